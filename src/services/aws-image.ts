import {randomUUID} from 'node:crypto';
import {createReadStream, createWriteStream} from 'node:fs';
import {rm, stat} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {Transform, type Readable} from 'node:stream';
import {pipeline} from 'node:stream/promises';
import {setTimeout as sleep} from 'node:timers/promises';
import {
  CancelExportTaskCommand, CancelImportTaskCommand, CreateTagsCommand, DescribeExportImageTasksCommand, DescribeImportImageTasksCommand,
  ExportImageCommand, ImportImageCommand, type EC2Client, type Tag,
} from '@aws-sdk/client-ec2';
import {DeleteObjectCommand, GetObjectCommand, type S3Client} from '@aws-sdk/client-s3';
import {Upload} from '@aws-sdk/lib-storage';
import {packageBox, packageLibvirtBox} from '../boxes/package.js';
import {findStoredBox} from '../boxes/store.js';
import {BoxError, InterruptedError, UsageError, errorMessage, throwIfAborted} from '../core/errors.js';
import {run} from '../core/exec.js';
import type {Ui} from '../core/ui.js';
import {clientRegion, ec2Client, s3Client, type AwsConnection} from '../providers/aws/client.js';
import {awsCall, mapAwsError} from '../providers/aws/errors.js';
import {TAG} from '../providers/aws/tags.js';
import {removeTransferRecord, taskMayHaveStarted, writeTransferRecord, type TransferRecord} from '../providers/aws/transfer-records.js';
import {findTransferTask} from '../providers/aws/transfer-tasks.js';
import {createWorkDir, removeDeadWorkDirs, workDirFor} from '../providers/aws/work-dirs.js';

export interface ImageTransferOptions extends AwsConnection {
  bucket: string;
  /** Key prefix in the bucket (default "box/"). */
  prefix?: string;
  /** Keep the S3 object after the import/export (default: delete it). */
  keepObject?: boolean;
  /** IAM role the VM Import/Export service uses (default "vmimport", as AWS documents). */
  roleName?: string;
  ui: Ui;
  signal: AbortSignal;
  /** Seconds between task polls (default 15; tests use less). */
  pollSeconds?: number;
}

export interface PushResult {
  box: {name: string; version: string};
  region: string;
  bucket: string;
  key: string;
  importTaskId: string;
  ami: string;
  /** The aws box written (and added to the store) so `box up --target aws` finds the AMI. */
  awsBox: {path: string; added: boolean};
}

export interface PullResult {
  ami: string;
  region: string;
  exportTaskId: string;
  bucket: string;
  key: string;
  box: {path: string; sha256: string; size: number};
  added?: {name: string; version: string};
}

/** Tags of an import/export task: this host, and the transfer record that started it (sweep matches a task to a dead record by it). */
function transferTags(recordId: string, extra: Tag[] = []): Tag[] {
  return [{Key: TAG.host, Value: os.hostname()}, {Key: TAG.transfer, Value: recordId}, ...extra];
}

function pollMs(options: ImageTransferOptions): number {
  return (options.pollSeconds ?? Number(process.env.BOX_AWS_POLL_SECONDS ?? 15)) * 1000;
}

/** Uploads a file with lib-storage (multipart, parallel parts, retried), with byte progress. */
export async function uploadToS3(s3: S3Client, file: string, bucket: string, key: string, ui: Ui, signal: AbortSignal): Promise<void> {
  const {size} = await stat(file);
  const upload = new Upload({client: s3, params: {Bucket: bucket, Key: key, Body: createReadStream(file)}, queueSize: 4, partSize: 16 * 1024 * 1024, leavePartsOnError: false});
  const progress = ui.progress(`upload s3://${bucket}/${key}`);
  upload.on('httpUploadProgress', (p) => progress.update({transferred: p.loaded ?? 0, total: size}));
  const onAbort = () => void upload.abort().catch(() => undefined);
  signal.addEventListener('abort', onAbort, {once: true});
  try {
    await upload.done();
  } catch (error) {
    if (signal.aborted) throw new InterruptedError();
    throw mapAwsError(error, {action: 'S3 upload'});
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
  progress.update({transferred: size, total: size});
  progress.done();
}

/**
 * `box image push BOX --target aws`: converts the stored libvirt box's qcow2 to a
 * stream-optimized VMDK, uploads it to S3, runs ImportImage and polls it (showing its progress)
 * until the AMI exists, tags the AMI, and writes + stores an aws box of the same name and version
 * whose metadata maps the region to the AMI, so the same Boxfile runs with `--target aws`.
 * Ctrl-C cancels the import task and removes the upload.
 */
export async function pushImage(options: ImageTransferOptions & {name: string; version?: string}): Promise<PushResult> {
  const {ui, signal} = options;
  const stored = await findStoredBox(options.name, {constraint: options.version, provider: 'libvirt'});
  if (!stored) throw new BoxError('ERR_BOX_NOT_FOUND', `No libvirt (qemu) box "${options.name}"${options.version ? ` ${options.version}` : ''} in the store.`, {hint: 'See `box box list`; build one with `box build` or add one with `box box add`.'});
  const ec2 = ec2Client(options);
  const s3 = s3Client(options);
  const region = await clientRegion(ec2).catch((error) => { throw mapAwsError(error, {action: 'configure region'}); });
  // The next push removes the work folders (disk images) of pushes that were killed.
  await removeDeadWorkDirs(['push']);
  const key = `${options.prefix ?? 'box/'}${stored.name.replaceAll('/', '-')}-${stored.version}-${Date.now()}.vmdk`;
  let uploaded = false;
  let taskId: string | undefined;
  /** ImportImage was sent and its task id is not known (yet): the task may exist. */
  let importing = false;
  const id = randomUUID();
  const work = workDirFor('push', id);
  const record: TransferRecord = {id: `push-${id}`, pid: process.pid, kind: 'push', region, bucket: options.bucket, key, workDir: work, startedAt: new Date().toISOString()};
  let cleanedUp = true;
  // Recorded, then created: a push killed with -9 leaves its disk image where the record says.
  await writeTransferRecord(record);
  try {
    await createWorkDir(work);
    ui.stage('convert', 'qcow2 → stream-optimized VMDK');
    const vmdk = path.join(work, 'disk.vmdk');
    await run('qemu-img', ['convert', '-O', 'vmdk', '-o', 'subformat=streamOptimized', path.join(stored.dir, 'box.img'), vmdk], {signal, errorCode: 'ERR_QEMU_IMG', hint: 'Install qemu-utils (apt-get install qemu-utils).'});
    ui.stage('upload', `s3://${options.bucket}/${key}`);
    uploaded = true;
    await uploadToS3(s3, vmdk, options.bucket, key, ui, signal);
    ui.stage('import-image');
    // The intent first: a push killed during the call leaves a token (and a tag) sweep finds the task by.
    record.clientToken = `box-${randomUUID()}`;
    await writeTransferRecord(record);
    importing = true;
    const started = await awsCall({action: 'ImportImage', region}, () => ec2.send(new ImportImageCommand({
      ClientToken: record.clientToken,
      Description: `box ${stored.name} ${stored.version}`,
      DiskContainers: [{Format: 'VMDK', UserBucket: {S3Bucket: options.bucket, S3Key: key}}],
      RoleName: options.roleName,
      TagSpecifications: [{ResourceType: 'import-image-task', Tags: transferTags(record.id, [{Key: 'box:box', Value: `${stored.name} ${stored.version}`}])}],
    }), {abortSignal: signal})).catch((error) => {
      if (!taskMayHaveStarted(error)) importing = false;
      throw error;
    });
    importing = false;
    taskId = started.ImportTaskId!;
    await writeTransferRecord({...record, importTaskId: taskId});
    const ami = await pollImport(ec2, taskId, region, options);
    taskId = undefined;
    await awsCall({action: 'CreateTags', region}, () => ec2.send(new CreateTagsCommand({Resources: [ami], Tags: [
      {Key: 'Name', Value: `${stored.name}-${stored.version}`}, {Key: TAG.host, Value: os.hostname()}, {Key: 'box:box', Value: `${stored.name} ${stored.version}`},
    ]})));
    const awsBoxPath = path.join(work, `${stored.name.replaceAll('/', '-')}-${stored.version}-aws.box`);
    await packageBox({provider: 'aws', metadata: {amis: {[region]: ami}, imported_from: {name: stored.name, version: stored.version, import_task: started.ImportTaskId}}, files: [], outputPath: awsBoxPath});
    const {addBox} = await import('../boxes/add.js');
    await addBox({source: awsBoxPath, name: stored.name, version: stored.version, provider: 'aws', force: true, ui, signal});
    ui.success(`${stored.name} ${stored.version} is ${ami} in ${region}; \`box up --target aws\` can use it`);
    return {box: {name: stored.name, version: stored.version}, region, bucket: options.bucket, key, importTaskId: started.ImportTaskId!, ami, awsBox: {path: awsBoxPath, added: true}};
  } finally {
    if (importing) {
      // The answer was lost or box was interrupted during ImportImage: find the task by its tag.
      taskId = await findTransferTask(ec2, record).catch(() => { cleanedUp = false; return undefined; });
    }
    if (taskId) await ec2.send(new CancelImportTaskCommand({ImportTaskId: taskId, CancelReason: 'box: interrupted or failed'})).catch(() => { cleanedUp = false; });
    if (uploaded && !options.keepObject) {
      await s3.send(new DeleteObjectCommand({Bucket: options.bucket, Key: key})).catch((e) => {
        cleanedUp = false;
        ui.warn(`could not delete s3://${options.bucket}/${key}: ${errorMessage(e)} (\`box sweep\` retries)`);
      });
    }
    // Kept when the upload could not be deleted: the record is how `box sweep` finds it.
    // The folder before the record that leads to it.
    await rm(work, {recursive: true, force: true});
    if (cleanedUp) await removeTransferRecord(record.id);
  }
}

async function pollImport(ec2: EC2Client, taskId: string, region: string, options: ImageTransferOptions): Promise<string> {
  const progress = options.ui.progress(`import ${taskId}`);
  for (;;) {
    throwIfAborted(options.signal);
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
    options.ui.info(`import ${taskId}: ${status}${task.StatusMessage ? ` (${task.StatusMessage})` : ''} ${task.Progress ?? 0}%`);
    await sleep(pollMs(options), undefined, {signal: options.signal}).catch(() => { throw new InterruptedError(); });
  }
}

/**
 * `box image pull AMI`: ExportImage to S3 (VMDK), polled until done, downloaded with progress,
 * converted to qcow2 with qemu-img, and packaged as a libvirt box (optionally added to the
 * store) so the machine that ran on EC2 boots locally. Ctrl-C cancels the export task.
 */
export async function pullImage(options: ImageTransferOptions & {ami: string; outputDir?: string; name?: string; version?: string; add: boolean}): Promise<PullResult> {
  const {ui, signal} = options;
  if (!/^ami-[0-9a-f]+$/.test(options.ami)) throw new UsageError('ERR_AWS_AMI', `"${options.ami}" is not an AMI id.`, {hint: 'For example ami-0123456789abcdef0.'});
  const ec2 = ec2Client(options);
  const s3 = s3Client(options);
  const region = await clientRegion(ec2).catch((error) => { throw mapAwsError(error, {action: 'configure region'}); });
  const prefix = options.prefix ?? 'box/';
  // The intent first: a pull killed during ExportImage leaves a token (and a tag) sweep finds the task by.
  await removeDeadWorkDirs(['pull']);
  const id = randomUUID();
  const work = workDirFor('pull', id);
  const record: TransferRecord = {id: `pull-${id}`, pid: process.pid, kind: 'pull', region, bucket: options.bucket, prefix, workDir: work, clientToken: `box-${randomUUID()}`, startedAt: new Date().toISOString()};
  await writeTransferRecord(record);
  const started = await awsCall({action: 'ExportImage', region, ami: options.ami}, () => ec2.send(new ExportImageCommand({
    ClientToken: record.clientToken,
    ImageId: options.ami, DiskImageFormat: 'VMDK', S3ExportLocation: {S3Bucket: options.bucket, S3Prefix: prefix}, RoleName: options.roleName,
    Description: `box image pull ${options.ami}`,
    TagSpecifications: [{ResourceType: 'export-image-task', Tags: transferTags(record.id)}],
  }), {abortSignal: signal})).catch(async (error) => {
    // Refused outright: nothing was started, the record can go. Otherwise (answer lost,
    // interrupted) the task may exist: find it by its tag and cancel it, or leave the record
    // for `box sweep`, which does the same.
    let settled = !taskMayHaveStarted(error);
    if (!settled) {
      const task = await findTransferTask(ec2, record).catch(() => 'unknown' as const);
      if (task !== 'unknown') settled = task === undefined || await ec2.send(new CancelExportTaskCommand({ExportTaskId: task})).then(() => true, () => false);
    }
    if (settled) await removeTransferRecord(record.id);
    else ui.warn(`ExportImage may have started a task box could not cancel; \`box sweep\` retries (record ${record.id}).`);
    throw error;
  });
  const taskId = started.ExportImageTaskId!;
  const key = `${prefix}${taskId}.vmdk`;
  await writeTransferRecord({...record, exportTaskId: taskId, key});
  let finished = false;
  let cleanedUp = true;
  try {
    await createWorkDir(work);
    await pollExport(ec2, taskId, region, options);
    finished = true;
    ui.stage('download', `s3://${options.bucket}/${key}`);
    const vmdk = path.join(work, 'disk.vmdk');
    const object = await awsCall({action: 'S3 GetObject'}, () => s3.send(new GetObjectCommand({Bucket: options.bucket, Key: key}), {abortSignal: signal}));
    const total = object.ContentLength;
    const progress = ui.progress('download');
    let transferred = 0;
    const counter = new Transform({transform(chunk: Buffer, _e, cb) { transferred += chunk.length; progress.update({transferred, total}); cb(null, chunk); }});
    await pipeline(object.Body as Readable, counter, createWriteStream(vmdk), {signal});
    progress.done();
    ui.stage('convert', 'VMDK → qcow2');
    const qcow2 = path.join(work, 'box.img');
    await run('qemu-img', ['convert', '-O', 'qcow2', vmdk, qcow2], {signal, errorCode: 'ERR_QEMU_IMG', hint: 'Install qemu-utils (apt-get install qemu-utils).'});
    const name = options.name ?? options.ami;
    const version = options.version ?? '0';
    const outputDir = path.resolve(options.outputDir ?? path.join('output', name));
    const box = await packageLibvirtBox({imagePath: qcow2, outputPath: path.join(outputDir, `${name.replaceAll('/', '-')}-${version}-libvirt.box`), extraMetadata: {exported_from: {ami: options.ami, region, export_task: taskId}}});
    let added: PullResult['added'];
    if (options.add) {
      const {addBox} = await import('../boxes/add.js');
      const a = await addBox({source: box.path, name, version, provider: 'libvirt', force: true, ui, signal});
      added = {name: a.name, version: a.version};
    }
    ui.success(`${options.ami} is now ${box.path}`);
    return {ami: options.ami, region, exportTaskId: taskId, bucket: options.bucket, key, box, added};
  } finally {
    if (!finished) await ec2.send(new CancelExportTaskCommand({ExportTaskId: taskId})).catch(() => undefined);
    if (!options.keepObject) {
      await s3.send(new DeleteObjectCommand({Bucket: options.bucket, Key: key})).catch((e) => {
        // NoSuchKey: an export cancelled before it wrote anything.
        if ((e as {name?: string}).name === 'NoSuchKey') return;
        cleanedUp = false;
        ui.warn(`could not delete s3://${options.bucket}/${key}: ${errorMessage(e)} (\`box sweep\` retries)`);
      });
    }
    // The folder before the record that leads to it.
    await rm(work, {recursive: true, force: true});
    if (cleanedUp) await removeTransferRecord(record.id);
  }
}

async function pollExport(ec2: EC2Client, taskId: string, region: string, options: ImageTransferOptions): Promise<void> {
  for (;;) {
    throwIfAborted(options.signal);
    const out = await awsCall({action: 'DescribeExportImageTasks', region}, () => ec2.send(new DescribeExportImageTasksCommand({ExportImageTaskIds: [taskId]})));
    const task = out.ExportImageTasks?.[0];
    const status = task?.Status ?? 'unknown';
    if (status === 'completed') return;
    if (status === 'deleted' || status === 'deleting' || !task) {
      throw new BoxError('ERR_AWS_EXPORT', `ExportImage task ${taskId} failed: ${task?.StatusMessage ?? 'the task disappeared'}.`, {
        hint: 'Check the vmimport role, the bucket\'s ACL for the export service, and that the AMI was not made from a Marketplace image (those cannot be exported).',
      });
    }
    options.ui.info(`export ${taskId}: ${status}${task.StatusMessage ? ` (${task.StatusMessage})` : ''} ${task.Progress ?? 0}%`);
    await sleep(pollMs(options), undefined, {signal: options.signal}).catch(() => { throw new InterruptedError(); });
  }
}
