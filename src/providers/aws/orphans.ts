import os from 'node:os';
import path from 'node:path';
import {readdir} from 'node:fs/promises';
import {
  DescribeAddressesCommand, DescribeKeyPairsCommand, paginateDescribeImages, paginateDescribeInstances, paginateDescribeSecurityGroups, paginateDescribeSnapshots,
  type EC2Client, type Tag,
} from '@aws-sdk/client-ec2';
import {listStoredBoxes} from '../../boxes/store.js';
import {errorMessage} from '../../core/errors.js';
import {readJson} from '../../core/fs-json.js';
import {projectStateDir} from '../../core/paths.js';
import type {MachineState} from '../../core/state.js';
import {deadBakes, liveBakeTokens, type BakeRecord} from './bake-records.js';
import {awsCall} from './errors.js';
import {snapshotsOf} from './images.js';
import type {AwsMachineState} from './machine-state.js';
import {allPages} from './paginate.js';
import {TAG, tagValue} from './tags.js';
import {deadTransfers, type TransferRecord} from './transfer-records.js';
import {findTransferTask} from './transfer-tasks.js';
import {deadWorkDirs} from './work-dirs.js';

// What `box sweep` finds: resources box tagged (box:host) that nothing on this host knows any
// more (no project state records them, no running bake or transfer owns them, no stored box
// refers to an AMI), and what dead bakes and image transfers left.

export type SweepType = 'instance' | 'elastic-ip' | 'security-group' | 'key-pair' | 'image' | 'snapshot' | 's3-object' | 'import-task' | 'export-task' | 'work-folder';

export interface SweptResource {
  type: SweepType;
  id: string;
  name?: string;
  project?: string;
  machine?: string;
  root?: string;
  /** Why box believes nothing knows this resource any more. */
  reason: string;
  /** For an instance of a (persistent) spot request: cancelled first, or EC2 launches a replacement. */
  spotRequestId?: string;
  /** For what a dead `box image push|pull` left: its record, removed once all of it is gone. */
  transferId?: string;
  /** For what a bake left: its token; the record of a dead bake goes once all of it is gone. */
  bake?: string;
  removed?: boolean;
  error?: string;
}

export interface OrphanScope {
  client: EC2Client;
  region: string;
  /** Also resources created by box on other hosts (their project folders cannot be checked here). */
  allHosts: boolean;
  /** Also finished baked AMIs (and their snapshots) that no stored box refers to. */
  images?: boolean;
  signal: AbortSignal;
}

type Known = {ids: Set<string>; tokens: Set<string>; exists: boolean};

async function knownByRoot(root: string, cache: Map<string, Known>): Promise<Known> {
  const hit = cache.get(root);
  if (hit) return hit;
  const machinesDir = path.join(projectStateDir(root), 'machines');
  const entry: Known = {ids: new Set<string>(), tokens: new Set<string>(), exists: false};
  let names: string[] = [];
  try {
    names = await readdir(machinesDir);
    entry.exists = true;
  } catch {
    // no state: everything tagged with this root is unknown
  }
  for (const name of names) {
    const state = await readJson<MachineState | undefined>(path.join(machinesDir, name, 'state.json'), undefined).catch(() => undefined);
    if (state?.target !== 'aws') continue;
    const s = state.provider as unknown as AwsMachineState;
    entry.tokens.add(s.token);
    for (const id of [s.instanceId, s.keyPair?.name, s.keyPair?.id, s.securityGroup?.id, s.securityGroup?.name, s.privateGroup?.id, ...s.elasticIps.flatMap((e) => [e.allocationId, e.token])]) if (id) entry.ids.add(id);
  }
  cache.set(root, entry);
  return entry;
}

/** AMIs some box in the store points at (`metadata.json` `amis`), so sweep keeps them. */
async function amisInStore(): Promise<Set<string>> {
  const amis = new Set<string>();
  for (const box of await listStoredBoxes()) {
    const meta = await readJson<{amis?: Record<string, string>}>(path.join(box.dir, 'metadata.json'), {});
    for (const ami of Object.values(meta.amis ?? {})) amis.add(ami);
  }
  return amis;
}

/**
 * The resources tagged by box (box:host) whose project state (or, for baked AMIs, the box
 * store) no longer knows them, and the images of bakes whose process is gone (`deadBakes`, of
 * this region: their records go once all they left is removed). Only this host's resources
 * unless `allHosts`: another host's project folders cannot be checked from here.
 */
export async function findTaggedOrphans(scope: OrphanScope): Promise<{resources: SweptResource[]; deadBakes: BakeRecord[]}> {
  const {client, region, signal} = scope;
  const call = <T>(action: string, fn: () => Promise<T>) => awsCall({action, region}, fn);
  const host = os.hostname();
  const cache = new Map<string, Known>();
  const bakes = await liveBakeTokens();
  const storeAmis = await amisInStore();
  const found: SweptResource[] = [];

  /** Why a tagged resource is an orphan, or undefined when something still knows it. */
  const orphanReason = async (tags: Tag[] | undefined, ids: string[]): Promise<string | undefined> => {
    if (!tagValue(tags, TAG.host)) return undefined; // not made by box
    if (!scope.allHosts && tagValue(tags, TAG.host) !== host) return undefined;
    const bake = tagValue(tags, TAG.bake);
    if (bake) return bakes.has(tagValue(tags, TAG.token) ?? '') ? undefined : `left by a box build (${bake}) that is no longer running`;
    const root = tagValue(tags, TAG.root);
    if (!root) return undefined;
    const known = await knownByRoot(root, cache);
    if (!known.exists) return `project folder ${root} has no box state any more`;
    const token = tagValue(tags, TAG.token);
    if (ids.some((id) => known.ids.has(id)) || (token && (known.tokens.has(token) || known.ids.has(token)))) return undefined;
    return `no machine of ${root} records it`;
  };
  const add = (r: Omit<SweptResource, 'project' | 'machine' | 'root'>, tags: Tag[] | undefined) => found.push({
    ...r, project: tagValue(tags, TAG.project), machine: tagValue(tags, TAG.machine), root: tagValue(tags, TAG.root),
    ...(tagValue(tags, TAG.bake) && tagValue(tags, TAG.token) ? {bake: tagValue(tags, TAG.token)} : {}),
  });

  const pages = {client};
  const instances = await call('DescribeInstances', () => allPages(paginateDescribeInstances(pages, {
    Filters: [{Name: 'tag-key', Values: [TAG.host]}, {Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped']}],
  }), (p) => p.Reservations?.flatMap((r) => r.Instances ?? []), signal));
  for (const i of instances) {
    const reason = await orphanReason(i.Tags, [i.InstanceId!]);
    if (reason) add({type: 'instance', id: i.InstanceId!, name: tagValue(i.Tags, 'Name'), reason, ...(i.SpotInstanceRequestId ? {spotRequestId: i.SpotInstanceRequestId} : {})}, i.Tags);
  }
  const addresses = (await call('DescribeAddresses', () => client.send(new DescribeAddressesCommand({})))).Addresses ?? [];
  for (const a of addresses) {
    const reason = await orphanReason(a.Tags, [a.AllocationId!]);
    if (reason) add({type: 'elastic-ip', id: a.AllocationId!, name: a.PublicIp, reason}, a.Tags);
  }
  // Only what box tagged (box:host) comes back: accounts have many groups and snapshots.
  const boxTagged = [{Name: 'tag-key', Values: [TAG.host]}];
  const groups = await call('DescribeSecurityGroups', () => allPages(paginateDescribeSecurityGroups(pages, {Filters: boxTagged}), (p) => p.SecurityGroups, signal));
  for (const g of groups) {
    const reason = await orphanReason(g.Tags, [g.GroupId!, g.GroupName!]);
    if (reason) add({type: 'security-group', id: g.GroupId!, name: g.GroupName, reason}, g.Tags);
  }
  const keys = (await call('DescribeKeyPairs', () => client.send(new DescribeKeyPairsCommand({})))).KeyPairs ?? [];
  for (const k of keys) {
    const reason = await orphanReason(k.Tags, [k.KeyName!, k.KeyPairId ?? '']);
    if (reason) add({type: 'key-pair', id: k.KeyName!, name: k.KeyPairId, reason}, k.Tags);
  }
  const images = await call('DescribeImages', () => allPages(paginateDescribeImages(pages, {Owners: ['self']}), (p) => p.Images, signal));
  const orphanImages = new Set<string>();
  for (const img of images) {
    if (!tagValue(img.Tags, TAG.host) || (!scope.allHosts && tagValue(img.Tags, TAG.host) !== host)) continue;
    if (storeAmis.has(img.ImageId!)) continue;
    if (bakes.has(tagValue(img.Tags, TAG.token) ?? '')) continue;
    // A finished AMI is what a bake was for, even when its box sits in an output folder rather
    // than the store: only --images removes it. One without the tag is a dead bake's half-image.
    const finished = tagValue(img.Tags, TAG.complete) !== undefined;
    if (finished && !scope.images) continue;
    orphanImages.add(img.ImageId!);
    add({type: 'image', id: img.ImageId!, name: img.Name, reason: finished ? 'no box in the store refers to this AMI (--images)' : 'left half-made by a box build that is no longer running'}, img.Tags);
  }
  // A bake killed during CreateImage: the AMI name its record holds (written before the call)
  // finds the image even where the cloud dropped its tags.
  const dead = (await deadBakes()).filter((b) => b.region === region);
  for (const b of dead) {
    for (const img of images) {
      if (orphanImages.has(img.ImageId!) || !b.amiName || img.Name !== b.amiName) continue;
      const token = tagValue(img.Tags, TAG.token);
      if (token ? token !== b.token : !(img.Description ?? '').includes(`(${b.token})`)) continue;
      if (tagValue(img.Tags, TAG.complete) !== undefined && !scope.images) continue;
      orphanImages.add(img.ImageId!);
      add({type: 'image', id: img.ImageId!, name: img.Name, reason: `left by a box build (pid ${b.pid}) that is no longer running`, bake: b.token}, img.Tags);
    }
  }
  // The snapshots of every image swept go with it, tagged or not (untagged: the image was made
  // by an API that takes no snapshot tags at CreateImage, and the bake died before tagging them).
  const listedSnapshots = new Set<string>();
  for (const img of images.filter((i) => orphanImages.has(i.ImageId!))) {
    const bake = found.find((r) => r.id === img.ImageId)?.bake;
    for (const snap of snapshotsOf(img)) {
      listedSnapshots.add(snap);
      add({type: 'snapshot', id: snap, reason: `snapshot of ${img.ImageId}, which is swept`, ...(bake ? {bake} : {})}, img.Tags);
    }
  }
  const keptSnapshots = new Set(images.filter((i) => !orphanImages.has(i.ImageId!)).flatMap((i) => i.BlockDeviceMappings?.map((b) => b.Ebs?.SnapshotId) ?? []));
  const snapshots = await call('DescribeSnapshots', () => allPages(paginateDescribeSnapshots(pages, {OwnerIds: ['self'], Filters: boxTagged}), (p) => p.Snapshots, signal));
  for (const snap of snapshots) {
    if (!tagValue(snap.Tags, TAG.host) || (!scope.allHosts && tagValue(snap.Tags, TAG.host) !== host)) continue;
    if (listedSnapshots.has(snap.SnapshotId!) || keptSnapshots.has(snap.SnapshotId) || bakes.has(tagValue(snap.Tags, TAG.token) ?? '')) continue;
    // A `box snapshot` of a machine: kept while the machine's record (its token) exists.
    if (tagValue(snap.Tags, TAG.snapshot) !== undefined) {
      const reason = await orphanReason(snap.Tags, [snap.SnapshotId!]);
      if (reason) add({type: 'snapshot', id: snap.SnapshotId!, name: snap.Description, reason: `box snapshot ${tagValue(snap.Tags, TAG.snapshot)}: ${reason}`}, snap.Tags);
      continue;
    }
    if (tagValue(snap.Tags, TAG.complete) !== undefined && !scope.images) continue;
    add({type: 'snapshot', id: snap.SnapshotId!, name: snap.Description, reason: 'no kept AMI uses this snapshot'}, snap.Tags);
  }
  return {resources: found, deadBakes: dead};
}

/**
 * What `box image push|pull` processes that no longer run left behind (their records, of this
 * region, say): import/export tasks and S3 objects.
 */
export async function findTransferLeftovers(client: EC2Client, region: string): Promise<{resources: SweptResource[]; deadTransfers: TransferRecord[]}> {
  const records = (await deadTransfers()).filter((record) => record.region === region);
  const found: SweptResource[] = [];
  for (const record of records) {
    const t = {...record};
    const reason = `left by a box image ${t.kind} (pid ${t.pid}) that is no longer running`;
    const taskType = t.kind === 'push' ? 'import-task' : 'export-task';
    if (t.clientToken && !(t.kind === 'push' ? t.importTaskId : t.exportTaskId)) {
      // Killed during ImportImage/ExportImage: only the intent was recorded; the task's tag finds it.
      try {
        const task = await findTransferTask(client, t);
        if (t.kind === 'push') t.importTaskId = task;
        else if (task) Object.assign(t, {exportTaskId: task, key: t.prefix === undefined ? undefined : `${t.prefix}${task}.vmdk`});
      } catch (error) {
        // Listed as not removed (sweep exits 1, the record stays); the upload can still go.
        found.push({type: taskType, id: `(task of ${t.id})`, reason, transferId: t.id, removed: false, error: `could not look for the task: ${errorMessage(error)}`});
      }
    }
    if (t.importTaskId) found.push({type: 'import-task', id: t.importTaskId, reason, transferId: t.id});
    if (t.exportTaskId) found.push({type: 'export-task', id: t.exportTaskId, reason, transferId: t.id});
    if (t.key) found.push({type: 's3-object', id: `s3://${t.bucket}/${t.key}`, reason, transferId: t.id});
  }
  return {resources: found, deadTransfers: records};
}

/**
 * Local work folders of dead bakes and transfers (a bake's private key, a disk image). One a
 * bake kept on purpose (--on-error abort) goes with that bake's instance: in its region only.
 */
export async function findWorkFolderLeftovers(region: string): Promise<SweptResource[]> {
  const found: SweptResource[] = [];
  for (const w of await deadWorkDirs(['bake', 'push', 'pull'])) {
    if (w.kept && w.region !== region) continue;
    const what = w.kind === 'bake' ? 'box build' : `box image ${w.kind}`;
    const owner = w.region !== region ? {} : w.kind === 'bake' ? {bake: w.owner} : {transferId: w.owner};
    found.push({type: 'work-folder', id: w.dir, reason: `work folder of a ${what} (pid ${w.pid}) that is no longer running`, ...owner});
  }
  return found;
}
