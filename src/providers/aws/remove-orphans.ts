import {rm} from 'node:fs/promises';
import {CancelSpotInstanceRequestsCommand, DescribeAddressesCommand, TerminateInstancesCommand, waitUntilInstanceTerminated, type EC2Client} from '@aws-sdk/client-ec2';
import {errorMessage} from '../../core/errors.js';
import type {Ui} from '../../core/ui.js';
import {s3Client, type AwsConnection} from './client.js';
import {releaseAddress} from './elastic-ips.js';
import {awsErrorCode, mapAwsError} from './errors.js';
import {deleteSnapshot, deregisterImage} from './images.js';
import type {SweepType, SweptResource} from './orphans.js';
import {deleteKeyPair, deleteSecurityGroup} from './resources.js';
import {deleteObject} from './s3-objects.js';
import {cancelExportTask, cancelImportTask} from './transfer-tasks.js';
import {waiterConfig} from './waiters.js';

export interface RemoveScope {
  /** Where the S3 objects are (the EC2 client's connection). */
  conn: AwsConnection;
  client: EC2Client;
  region: string;
  ui: Ui;
  signal: AbortSignal;
}

/**
 * Removes what `findTaggedOrphans` and the other finders listed, in dependency order: instances,
 * addresses, groups, key pairs, images, snapshots, then tasks, S3 objects and work folders.
 * Marks each `removed` (one already gone counts), or sets its `error` and warns.
 */
export async function removeOrphans(found: SweptResource[], scope: RemoveScope): Promise<void> {
  const {client, region, ui, signal} = scope;
  const attempt = async (r: SweptResource, fn: () => Promise<unknown>) => {
    try {
      await fn();
      r.removed = true;
    } catch (error) {
      const code = awsErrorCode(error) ?? '';
      if (/NotFound/.test(code)) {
        r.removed = true;
        return;
      }
      r.removed = false;
      r.error = errorMessage(mapAwsError(error, {action: `remove ${r.type}`, region}));
      ui.warn(`could not remove ${r.type} ${r.id}: ${r.error}`);
    }
  };
  // A resource listed with an error already (a task that could not be looked for) is not attempted.
  const of = (t: SweepType) => found.filter((r) => r.type === t && r.error === undefined);
  const instances = of('instance');
  for (const r of instances) {
    await attempt(r, async () => {
      if (r.spotRequestId) await client.send(new CancelSpotInstanceRequestsCommand({SpotInstanceRequestIds: [r.spotRequestId]}));
      await client.send(new TerminateInstancesCommand({InstanceIds: [r.id]}));
    });
  }
  const terminating = instances.filter((r) => r.removed).map((r) => r.id);
  if (terminating.length > 0) await waitUntilInstanceTerminated(waiterConfig(client, 900, signal), {InstanceIds: terminating}).catch((e) => ui.warn(`waiting for termination: ${errorMessage(e)}`));
  for (const r of of('elastic-ip')) {
    await attempt(r, async () => {
      // As EC2 has it now: the termination above may have disassociated it.
      const a = (await client.send(new DescribeAddressesCommand({AllocationIds: [r.id]}))).Addresses?.[0];
      await releaseAddress(client, a ?? {AllocationId: r.id}, region, ui);
    });
  }
  for (const r of of('security-group')) await attempt(r, () => deleteSecurityGroup(client, {name: r.name ?? r.id, id: r.id}, region, ui, signal));
  for (const r of of('key-pair')) await attempt(r, () => deleteKeyPair(client, r.id, region));
  for (const r of of('image')) await attempt(r, () => deregisterImage(client, r.id, region));
  for (const r of of('snapshot')) await attempt(r, () => deleteSnapshot(client, r.id, region));

  // A finished or already cancelled task cannot be cancelled again: that is not a failure.
  const finishedTask = (error: unknown) => /not.*(active|cancell)|already|completed|InvalidConversionTaskId|NotFound/i.test(`${awsErrorCode(error) ?? ''} ${errorMessage(error)}`);
  for (const r of of('import-task')) await attempt(r, () => cancelImportTask(client, r.id, 'box sweep').catch((e) => { if (!finishedTask(e)) throw e; }));
  for (const r of of('export-task')) await attempt(r, () => cancelExportTask(client, r.id).catch((e) => { if (!finishedTask(e)) throw e; }));
  const objects = of('s3-object');
  if (objects.length > 0) {
    const s3 = s3Client(scope.conn);
    for (const r of objects) {
      const [, bucket, key] = /^s3:\/\/([^/]+)\/(.+)$/.exec(r.id)!;
      await attempt(r, () => deleteObject(s3, bucket, key));
    }
  }
  for (const r of of('work-folder')) await attempt(r, () => rm(r.id, {recursive: true, force: true}));
}
