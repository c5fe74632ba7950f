import {
  DescribeImagesCommand, RegisterImageCommand, paginateDescribeSnapshots, waitUntilImageAvailable,
  type EC2Client, type Instance, type Snapshot, type Tag,
} from '@aws-sdk/client-ec2';
import {bakeDescription, createBakeImage, imagesOfBake} from '../../builder/methods/aws/create-image.js';
import {BoxError, UsageError} from '../../core/errors.js';
import type {Ui} from '../../core/ui.js';
import {LOCK_WAIT_MS, readMachineState, withMachineLock, type MachineState} from '../../core/state.js';
import type {CloneSource} from '../provider.js';
import {publicKeyOfFile, unknownCloneSnapshot} from '../shared/clone-guest.js';
import {awsCall, awsErrorCode, mapAwsError} from './errors.js';
import {deleteSnapshot, deregisterImage, snapshotsOf} from './images.js';
import {describeInstance} from './instance.js';
import type {AwsMachineState} from './machine-state.js';
import {allPages} from './paginate.js';
import {machineSnapshots} from './snapshots.js';
import {TAG, tagResources, tagSpec, tagValue} from './tags.js';
import {waitFor, waiterConfig} from './waiters.js';

// A clone on aws is a new instance launched from an image of the source's disks: CreateImage of
// the halted source's instance, or RegisterImage of the EBS snapshots of a `box snapshot save`.
// The image is only the way there: once the clone's instance runs, its volumes no longer depend
// on it, so it is removed (with the snapshots it made; never the source's own `box snapshot`s).
//
// The clone's key: on aws a key reaches the guest only through the EC2 key pair at launch, which
// cloud-init appends to the login user's authorized_keys at the first boot of each instance. The
// clone gets its own key pair, but its disk is the source's, so the source's key is still listed
// there: once the clone answers, box logs in with the clone's key and takes the source's out, and
// gives the clone its own machine-id and host keys (dropSourceKey, shared/clone-guest.ts).

/** The source of a clone, checked before anything is made. */
export interface AwsCloneSource {
  from: CloneSource;
  /** The source's record (its region, endpoint, instance, token, AMI) and its box. */
  s: AwsMachineState;
  box: MachineState['box'];
  client: EC2Client;
  /** The source's public key, read now (the source may be destroyed while the clone boots). */
  sourcePublicKey?: string;
}

/** What a clone records before the image call, to find its image again: the AMI name (the image is also tagged with the clone's token). */
export interface CloneImageRecord {
  name: string;
}

/**
 * The source's record: a created aws machine holding the named snapshot, if any (the same
 * refusal as the virtualbox target's, naming the snapshots it has). `clientFor` is the
 * provider's connection to where the source lives (passed in: the provider imports this file).
 */
export async function prepareAwsClone(projectRoot: string, from: CloneSource, clientFor: (s: AwsMachineState) => EC2Client): Promise<AwsCloneSource> {
  const state = await readMachineState(projectRoot, from.machine);
  const s = state?.target === 'aws' ? state.provider as unknown as AwsMachineState : undefined;
  if (!s?.instanceId) throw new UsageError('ERR_CLONE_SOURCE', `Machine ${from.machine} is not a created aws machine: there is no instance to clone.`, {hint: `Run \`box up ${from.machine}\` first.`});
  const client = clientFor(s);
  if (from.snapshot !== undefined) await snapshotParts(client, s, from);
  return {from, s, box: state!.box, client, sourcePublicKey: await publicKeyOfFile(s.keyPair?.privateKeyPath)};
}

/**
 * Makes the clone's image under the source's lifecycle lock (its up, halt, destroy or snapshot
 * waits), and waits until it is available. Without a snapshot the source is checked there again
 * to be stopped (it may have started since `--from` was checked): CreateImage of a stopped
 * instance takes its volumes as they are (no reboot). An EBS snapshot is taken at the moment of
 * the call, so the wait for the image happens after the lock is released.
 */
export async function makeCloneImage(src: AwsCloneSource, options: {projectRoot: string; clone: string; project: string; token: string; record: CloneImageRecord; tags: Tag[]; ui: Ui; signal: AbortSignal}): Promise<string> {
  const {client, s, from} = src;
  const {record, token, tags, ui, signal} = options;
  const region = s.region;
  const description = bakeDescription(`clone ${options.project}/${options.clone}`, `of ${from.machine}${from.snapshot === undefined ? '' : `@${from.snapshot}`}`, token);
  const imageId = await withMachineLock(options.projectRoot, from.machine, {waitMs: LOCK_WAIT_MS, signal}, async () => {
    if (from.snapshot !== undefined) {
      const parts = await snapshotParts(client, s, from);
      const instance = await describeInstance(client, s);
      ui.stage('register-image', `${record.name} from ${parts.map((p) => p.SnapshotId).join(' ')}`);
      return registerImage(client, region, {name: record.name, description, tags, token, instance, parts});
    }
    const instance = await describeInstance(client, s);
    if (instance?.State?.Name !== 'stopped') {
      throw new UsageError('ERR_CLONE_SOURCE_RUNNING', `Machine ${from.machine}'s instance ${s.instanceId} is ${instance?.State?.Name ?? 'gone'}: its disks are not at rest, so they cannot be copied.`, {
        hint: `Run \`box halt ${from.machine}\` first, or clone one of its snapshots: --from ${from.machine}@SNAPSHOT.`,
      });
    }
    ui.stage('create-image', `${s.instanceId} → ${record.name}`);
    const created = await createBakeImage({client, region, token, amiName: record.name, instanceId: s.instanceId, description, tags});
    if (!created.snapshotsTagged) {
      const image = (await awsCall({action: 'DescribeImages', region}, () => client.send(new DescribeImagesCommand({ImageIds: [created.imageId]})))).Images?.[0];
      const snapshots = snapshotsOf(image);
      if (snapshots.length > 0) await tagResources(client, snapshots, tags, region);
    }
    return created.imageId;
  });
  await waitFor('ImageAvailable', imageId, region, () => waitUntilImageAvailable(waiterConfig(client, 3600, signal), {ImageIds: [imageId]}));
  return imageId;
}

/**
 * Deregisters the clone's image(s) (found by the clone's token or the recorded name) and deletes
 * their snapshots, except those of a `box snapshot` (tagged box:snapshot): a registered image
 * is made of the source's own snapshots, which stay the source's.
 */
export async function removeCloneImages(client: EC2Client, region: string, token: string, record: CloneImageRecord): Promise<void> {
  for (const image of await imagesOfBake({client, region, token, amiName: record.name})) {
    await deregisterImage(client, image.ImageId, region);
    const ids = snapshotsOf(image);
    if (ids.length === 0) continue;
    // A filter, not SnapshotIds: one already gone must not fail the others.
    const described = await awsCall({action: 'DescribeSnapshots', region}, () => allPages(paginateDescribeSnapshots({client}, {Filters: [{Name: 'snapshot-id', Values: ids}]}), (p) => p.Snapshots));
    const boxSnapshots = new Set(described.filter((x) => tagValue(x.Tags, TAG.snapshot) !== undefined).map((x) => x.SnapshotId));
    for (const snapshot of ids.filter((id) => !boxSnapshots.has(id))) await deleteSnapshot(client, snapshot, region);
  }
}

/** The EBS snapshots of the source's named snapshot; an unknown name is a usage error naming those it has. */
async function snapshotParts(client: EC2Client, s: AwsMachineState, from: CloneSource): Promise<Snapshot[]> {
  const all = await machineSnapshots(client, s);
  const parts = all.filter((x) => tagValue(x.Tags, TAG.snapshot) === from.snapshot);
  if (parts.length === 0) {
    throw unknownCloneSnapshot(from.machine, from.snapshot!, [...new Set(all.map((x) => tagValue(x.Tags, TAG.snapshot)!))].sort());
  }
  return parts;
}

/**
 * RegisterImage from the snapshot's EBS snapshots, one mapping per device they were taken of,
 * with the boot facts of the source's instance (root device, architecture, virtualization, ENA,
 * boot mode). Tagged on creation and again after (an API may drop RegisterImage's tags; moto
 * 5.2.1 does); the description names the token for one that drops tags altogether.
 */
async function registerImage(client: EC2Client, region: string, input: {name: string; description: string; tags: Tag[]; token: string; instance: Instance | undefined; parts: Snapshot[]}): Promise<string> {
  const {instance, parts} = input;
  const root = instance?.RootDeviceName;
  if (!root || !parts.some((p) => tagValue(p.Tags, TAG.device) === root)) {
    throw new BoxError('ERR_AWS_CLONE', `The snapshot has no volume of the source instance's root device (${root ?? 'unknown'}); no image can boot from it.`, {hint: 'Save a snapshot of the machine again (`box snapshot save`), or clone the halted machine without @SNAPSHOT.'});
  }
  let imageId: string;
  try {
    imageId = (await client.send(new RegisterImageCommand({
      Name: input.name, Description: input.description, RootDeviceName: root,
      Architecture: instance?.Architecture, VirtualizationType: instance?.VirtualizationType, EnaSupport: instance?.EnaSupport, BootMode: instance?.BootMode,
      BlockDeviceMappings: parts.map((p) => ({DeviceName: tagValue(p.Tags, TAG.device), Ebs: {SnapshotId: p.SnapshotId, DeleteOnTermination: true}})),
      TagSpecifications: tagSpec(['image'], input.tags),
    }))).ImageId!;
  } catch (error) {
    // A lost answer retried by the SDK: EC2 refuses the name it already registered.
    if (awsErrorCode(error) !== 'InvalidAMIName.Duplicate') throw mapAwsError(error, {action: 'RegisterImage', region});
    const mine = (await imagesOfBake({client, region, token: input.token, amiName: input.name}))[0]?.ImageId;
    if (!mine) throw mapAwsError(error, {action: 'RegisterImage', region});
    imageId = mine;
  }
  await tagResources(client, [imageId], input.tags, region);
  return imageId;
}
