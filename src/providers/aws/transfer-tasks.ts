import os from 'node:os';
import {setTimeout as sleep} from 'node:timers/promises';
import {
  CancelExportTaskCommand, CancelImportTaskCommand, DescribeExportImageTasksCommand, DescribeImportImageTasksCommand, ExportImageCommand, ImportImageCommand,
  paginateDescribeExportImageTasks, paginateDescribeImportImageTasks, type EC2Client, type Tag,
} from '@aws-sdk/client-ec2';
import {BoxError, InterruptedError, throwIfAborted} from '../../core/errors.js';
import type {Ui} from '../../core/ui.js';
import {awsCall} from './errors.js';
import {allPages} from './paginate.js';
import {TAG, tagValue} from './tags.js';
import type {TransferRecord} from './transfer-records.js';

// The VM Import/Export tasks of `box image push|pull`: started with the transfer record's
// ClientToken and a box:transfer tag, polled until done, cancelled on failure or Ctrl-C.

/**
 * The import/export task a transfer started, found by the `box:transfer` tag it was created
 * with: for a record that holds the intent (client token) but not the task id, because the
 * process died, or the answer was lost, during ImportImage/ExportImage.
 */
export async function findTransferTask(ec2: EC2Client, record: TransferRecord): Promise<string | undefined> {
  const mine = (tags: Parameters<typeof tagValue>[0]) => tagValue(tags, TAG.transfer) === record.id;
  if (record.kind === 'push') {
    const tasks = await awsCall({action: 'DescribeImportImageTasks', region: record.region}, () => allPages(paginateDescribeImportImageTasks({client: ec2}, {}), (p) => p.ImportImageTasks));
    return tasks.find((t) => mine(t.Tags))?.ImportTaskId;
  }
  const tasks = await awsCall({action: 'DescribeExportImageTasks', region: record.region}, () => allPages(paginateDescribeExportImageTasks({client: ec2}, {}), (p) => p.ExportImageTasks));
  return tasks.find((t) => mine(t.Tags))?.ExportImageTaskId;
}

/** Tags of an import/export task: this host, and the transfer record that started it (sweep matches a task to a dead record by it). */
function transferTags(record: TransferRecord, extra: Tag[] = []): Tag[] {
  return [{Key: TAG.host, Value: os.hostname()}, {Key: TAG.transfer, Value: record.id}, ...extra];
}

/** How a task is polled: progress lines to `ui`, every `pollMs`, until `signal` fires. */
export interface TaskPolling {
  ui: Ui;
  signal: AbortSignal;
  pollMs: number;
}

/** ImportImage of the VMDK at s3://bucket/key (the record's ClientToken and tag on it). Returns the task id. */
export async function startImport(ec2: EC2Client, p: {record: TransferRecord; bucket: string; key: string; description: string; boxLabel: string; roleName?: string; signal: AbortSignal}): Promise<string> {
  const started = await awsCall({action: 'ImportImage', region: p.record.region}, () => ec2.send(new ImportImageCommand({
    ClientToken: p.record.clientToken,
    Description: p.description,
    DiskContainers: [{Format: 'VMDK', UserBucket: {S3Bucket: p.bucket, S3Key: p.key}}],
    RoleName: p.roleName,
    TagSpecifications: [{ResourceType: 'import-image-task', Tags: transferTags(p.record, [{Key: 'box:box', Value: p.boxLabel}])}],
  }), {abortSignal: p.signal}));
  return started.ImportTaskId!;
}

/** Polls an import task (showing its progress) until its AMI exists; returns the AMI id. */
export async function waitForImport(ec2: EC2Client, taskId: string, region: string, polling: TaskPolling): Promise<string> {
  const progress = polling.ui.progress(`import ${taskId}`);
  for (;;) {
    throwIfAborted(polling.signal);
    const out = await awsCall({action: 'DescribeImportImageTasks', region}, () => ec2.send(new DescribeImportImageTasksCommand({ImportTaskIds: [taskId]})));
    const task = out.ImportImageTasks?.[0];
    const status = task?.Status ?? 'unknown';
    if (status === 'completed' && task?.ImageId) {
      progress.done(`import ${taskId}: ${task.ImageId}`);
      return task.ImageId;
    }
    if (status === 'deleted' || status === 'deleting' || !task) {
      throw new BoxError('ERR_AWS_IMPORT', `ImportImage task ${taskId} failed: ${task?.StatusMessage ?? 'the task disappeared'}.`, {
        hint: 'Check that the vmimport service role exists and can read the bucket (see docs/aws.md), and that the image boots with a supported kernel.',
      });
    }
    progress.update({transferred: Number(task.Progress ?? 0), total: 100});
    polling.ui.info(`import ${taskId}: ${status}${task.StatusMessage ? ` (${task.StatusMessage})` : ''} ${task.Progress ?? 0}%`);
    await sleep(polling.pollMs, undefined, {signal: polling.signal}).catch(() => { throw new InterruptedError(); });
  }
}

/** ExportImage of an AMI to s3://bucket/prefix as VMDK (the record's ClientToken and tag on it). Returns the task id. */
export async function startExport(ec2: EC2Client, p: {record: TransferRecord; ami: string; bucket: string; prefix: string; roleName?: string; signal: AbortSignal}): Promise<string> {
  const started = await awsCall({action: 'ExportImage', region: p.record.region, ami: p.ami}, () => ec2.send(new ExportImageCommand({
    ClientToken: p.record.clientToken,
    ImageId: p.ami, DiskImageFormat: 'VMDK', S3ExportLocation: {S3Bucket: p.bucket, S3Prefix: p.prefix}, RoleName: p.roleName,
    Description: `box image pull ${p.ami}`,
    TagSpecifications: [{ResourceType: 'export-image-task', Tags: transferTags(p.record)}],
  }), {abortSignal: p.signal}));
  return started.ExportImageTaskId!;
}

/** Polls an export task until it completed. */
export async function waitForExport(ec2: EC2Client, taskId: string, region: string, polling: TaskPolling): Promise<void> {
  for (;;) {
    throwIfAborted(polling.signal);
    const out = await awsCall({action: 'DescribeExportImageTasks', region}, () => ec2.send(new DescribeExportImageTasksCommand({ExportImageTaskIds: [taskId]})));
    const task = out.ExportImageTasks?.[0];
    const status = task?.Status ?? 'unknown';
    if (status === 'completed') return;
    if (status === 'deleted' || status === 'deleting' || !task) {
      throw new BoxError('ERR_AWS_EXPORT', `ExportImage task ${taskId} failed: ${task?.StatusMessage ?? 'the task disappeared'}.`, {
        hint: 'Check the vmimport role, the bucket\'s ACL for the export service, and that the AMI was not made from a Marketplace image (those cannot be exported).',
      });
    }
    polling.ui.info(`export ${taskId}: ${status}${task.StatusMessage ? ` (${task.StatusMessage})` : ''} ${task.Progress ?? 0}%`);
    await sleep(polling.pollMs, undefined, {signal: polling.signal}).catch(() => { throw new InterruptedError(); });
  }
}

/** CancelImportTask; errors are the SDK's own (callers decide which mean "already over"). */
export async function cancelImportTask(ec2: EC2Client, taskId: string, reason: string): Promise<void> {
  await ec2.send(new CancelImportTaskCommand({ImportTaskId: taskId, CancelReason: reason}));
}

/** CancelExportTask; errors are the SDK's own (callers decide which mean "already over"). */
export async function cancelExportTask(ec2: EC2Client, taskId: string): Promise<void> {
  await ec2.send(new CancelExportTaskCommand({ExportTaskId: taskId}));
}
