import {randomUUID} from 'node:crypto';
import {rm} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {packageBox, packageLibvirtBox} from '../boxes/package.js';
import {findStoredBox} from '../boxes/store.js';
import {BoxError, UsageError, errorMessage} from '../core/errors.js';
import {run} from '../core/exec.js';
import type {Ui} from '../core/ui.js';
import {clientRegion, ec2Client, s3Client, type AwsConnection} from '../providers/aws/client.js';
import {mapAwsError} from '../providers/aws/errors.js';
import {deleteObject, downloadFromS3, uploadToS3} from '../providers/aws/s3-objects.js';
import {TAG, tagResources} from '../providers/aws/tags.js';
import {removeTransferRecord, taskMayHaveStarted, writeTransferRecord, type TransferRecord} from '../providers/aws/transfer-records.js';
import {cancelExportTask, cancelImportTask, findTransferTask, startExport, startImport, waitForExport, waitForImport} from '../providers/aws/transfer-tasks.js';
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

function pollMs(options: ImageTransferOptions): number {
  return (options.pollSeconds ?? Number(process.env.BOX_AWS_POLL_SECONDS ?? 15)) * 1000;
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
    const importTaskId = await startImport(ec2, {
      record, bucket: options.bucket, key, description: `box ${stored.name} ${stored.version}`, boxLabel: `${stored.name} ${stored.version}`, roleName: options.roleName, signal,
    }).catch((error) => {
      if (!taskMayHaveStarted(error)) importing = false;
      throw error;
    });
    importing = false;
    taskId = importTaskId;
    await writeTransferRecord({...record, importTaskId});
    const ami = await waitForImport(ec2, importTaskId, region, {ui, signal, pollMs: pollMs(options)});
    taskId = undefined;
    await tagResources(ec2, [ami], [
      {Key: 'Name', Value: `${stored.name}-${stored.version}`}, {Key: TAG.host, Value: os.hostname()}, {Key: 'box:box', Value: `${stored.name} ${stored.version}`},
    ], region);
    const awsBoxPath = path.join(work, `${stored.name.replaceAll('/', '-')}-${stored.version}-aws.box`);
    await packageBox({provider: 'aws', metadata: {amis: {[region]: ami}, imported_from: {name: stored.name, version: stored.version, import_task: importTaskId}}, files: [], outputPath: awsBoxPath});
    const {addBox} = await import('../boxes/add.js');
    await addBox({source: awsBoxPath, name: stored.name, version: stored.version, provider: 'aws', force: true, ui, signal});
    ui.success(`${stored.name} ${stored.version} is ${ami} in ${region}; \`box up --target aws\` can use it`);
    return {box: {name: stored.name, version: stored.version}, region, bucket: options.bucket, key, importTaskId, ami, awsBox: {path: awsBoxPath, added: true}};
  } finally {
    if (importing) {
      // The answer was lost or box was interrupted during ImportImage: find the task by its tag.
      taskId = await findTransferTask(ec2, record).catch(() => { cleanedUp = false; return undefined; });
    }
    if (taskId) await cancelImportTask(ec2, taskId, 'box: interrupted or failed').catch(() => { cleanedUp = false; });
    if (uploaded && !options.keepObject) {
      await deleteObject(s3, options.bucket, key).catch((e) => {
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
  const taskId = await startExport(ec2, {record, ami: options.ami, bucket: options.bucket, prefix, roleName: options.roleName, signal}).catch(async (error) => {
    // Refused outright: nothing was started, the record can go. Otherwise (answer lost,
    // interrupted) the task may exist: find it by its tag and cancel it, or leave the record
    // for `box sweep`, which does the same.
    let settled = !taskMayHaveStarted(error);
    if (!settled) {
      const task = await findTransferTask(ec2, record).catch(() => 'unknown' as const);
      if (task !== 'unknown') settled = task === undefined || await cancelExportTask(ec2, task).then(() => true, () => false);
    }
    if (settled) await removeTransferRecord(record.id);
    else ui.warn(`ExportImage may have started a task box could not cancel; \`box sweep\` retries (record ${record.id}).`);
    throw error;
  });
  const key = `${prefix}${taskId}.vmdk`;
  await writeTransferRecord({...record, exportTaskId: taskId, key});
  let finished = false;
  let cleanedUp = true;
  try {
    await createWorkDir(work);
    await waitForExport(ec2, taskId, region, {ui, signal, pollMs: pollMs(options)});
    finished = true;
    ui.stage('download', `s3://${options.bucket}/${key}`);
    const vmdk = path.join(work, 'disk.vmdk');
    await downloadFromS3(s3, options.bucket, key, vmdk, ui, signal);
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
    if (!finished) await cancelExportTask(ec2, taskId).catch(() => undefined);
    if (!options.keepObject) {
      await deleteObject(s3, options.bucket, key).catch((e) => {
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
