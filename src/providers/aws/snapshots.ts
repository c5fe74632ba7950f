import {
  AttachVolumeCommand, CreateSnapshotCommand, CreateVolumeCommand, DeleteVolumeCommand, DescribeInstancesCommand, DetachVolumeCommand,
  DescribeVolumesCommand, ModifyInstanceAttributeCommand, paginateDescribeSnapshots,
  waitUntilSnapshotCompleted, waitUntilVolumeAvailable, waitUntilVolumeInUse,
  type EC2Client, type Instance, type Snapshot,
} from '@aws-sdk/client-ec2';
import {BoxError} from '../../core/errors.js';
import type {MachineContext, Provider, SnapshotInfo, SnapshotSupport} from '../provider.js';
import {awsCall} from './errors.js';
import {deleteSnapshot} from './images.js';
import {readAwsState, recordAws, type AwsMachineState} from './machine-state.js';
import {allPages} from './paginate.js';
import {TAG, boxTags, tagSpec, tagValue} from './tags.js';
import {waitFor, waiterConfig} from './waiters.js';


/**
 * The aws target's snapshots: one EBS snapshot per volume of the instance, all tagged with box's
 * tags, the machine's token and `box:snapshot=NAME` (EC2 itself is the record: nothing in
 * state.json can disagree with it). A snapshot of a running instance is crash-consistent, disk
 * only. Restore stops the instance, puts a volume made from each snapshot in place of the
 * volume on that device (the old one is deleted, the new one deleted on termination like the
 * original), and starts the instance again when it ran before.
 */
export function awsSnapshots(provider: Provider, clientFor: ClientFor): SnapshotSupport {
  const open = (ctx: MachineContext, options: {needInstance?: boolean} = {}) => openMachine(ctx, clientFor, options);
  return {
    async list(ctx) {
      const {client, s} = await open(ctx);
      const byName = new Map<string, Snapshot[]>();
      for (const snap of await machineSnapshots(client, s)) {
        const name = tagValue(snap.Tags, TAG.snapshot)!;
        byName.set(name, [...byName.get(name) ?? [], snap]);
      }
      return [...byName].map(([name, parts]) => toInfo(name, parts)).sort((a, b) => (a.createdAt ?? '').localeCompare(b.createdAt ?? ''));
    },

    async save(ctx, name) {
      const {client, s, instance} = await open(ctx, {needInstance: true});
      const volumes = (instance!.BlockDeviceMappings ?? []).filter((b) => b.Ebs?.VolumeId);
      if (volumes.length === 0) throw new BoxError('ERR_AWS_SNAPSHOT', `Instance ${s.instanceId} has no EBS volumes to snapshot.`);
      const ids: string[] = [];
      for (const b of volumes) {
        const tags = boxTags(owner(ctx), `${ctx.project.name}/${ctx.machine.name}@${name} ${b.DeviceName}`, {...ctx.machine.aws.tags ?? {}, [TAG.token]: s.token, [TAG.snapshot]: name, [TAG.device]: b.DeviceName!});
        const out = await awsCall({action: 'CreateSnapshot', region: s.region}, () => client.send(new CreateSnapshotCommand({
          VolumeId: b.Ebs!.VolumeId, Description: `box snapshot ${name} of ${ctx.project.name}/${ctx.machine.name} ${b.DeviceName}`, TagSpecifications: tagSpec(['snapshot'], tags),
        })));
        ids.push(out.SnapshotId!);
      }
      ctx.ui.stage('wait-for-snapshots', ids.join(' '));
      await waitFor('SnapshotCompleted', ids.join(' '), s.region, () => waitUntilSnapshotCompleted(waiterConfig(client, 3600), {SnapshotIds: ids}));
      const made = (await this.list(ctx)).find((x) => x.name === name);
      if (!made) throw new BoxError('ERR_AWS_SNAPSHOT', `EC2 does not list the snapshots of ${name} just made (${ids.join(', ')}).`);
      return made;
    },

    async restore(ctx, snapshot) {
      const {client, s, instance} = await open(ctx, {needInstance: true});
      const wasRunning = ['running', 'pending'].includes(instance!.State?.Name ?? '');
      if (wasRunning) await provider.halt(ctx, {force: false, timeoutSeconds: 300});
      const zone = instance!.Placement?.AvailabilityZone;
      const parts = (snapshot.details?.snapshots ?? []) as Array<{id: string; device: string}>;
      for (const part of parts) {
        const current = (instance!.BlockDeviceMappings ?? []).find((b) => b.DeviceName === part.device);
        const old = current?.Ebs?.VolumeId;
        const oldVolume = old ? (await client.send(new DescribeVolumesCommand({VolumeIds: [old]}))).Volumes?.[0] : undefined;
        ctx.ui.stage('swap-volume', `${part.device}: a volume from ${part.id}${old ? ` replaces ${old}` : ''}`);
        const tags = boxTags(owner(ctx), `${ctx.project.name}/${ctx.machine.name} ${part.device}`, {...ctx.machine.aws.tags ?? {}, [TAG.token]: s.token});
        const made = await awsCall({action: 'CreateVolume', region: s.region}, () => client.send(new CreateVolumeCommand({
          SnapshotId: part.id, AvailabilityZone: zone, ...(oldVolume?.VolumeType ? {VolumeType: oldVolume.VolumeType} : {}), TagSpecifications: tagSpec(['volume'], tags),
        })));
        const volume = made.VolumeId!;
        await waitFor('VolumeAvailable', volume, s.region, () => waitUntilVolumeAvailable(waiterConfig(client, 900), {VolumeIds: [volume]}));
        if (old) {
          await awsCall({action: 'DetachVolume', region: s.region}, () => client.send(new DetachVolumeCommand({VolumeId: old, InstanceId: s.instanceId})));
          await waitFor('VolumeAvailable', old, s.region, () => waitUntilVolumeAvailable(waiterConfig(client, 900), {VolumeIds: [old]}));
        }
        await awsCall({action: 'AttachVolume', region: s.region}, () => client.send(new AttachVolumeCommand({VolumeId: volume, InstanceId: s.instanceId, Device: part.device})));
        await waitFor('VolumeInUse', volume, s.region, () => waitUntilVolumeInUse(waiterConfig(client, 900), {VolumeIds: [volume]}));
        // As the volume it replaces: gone with the instance (AttachVolume's default keeps it).
        await awsCall({action: 'ModifyInstanceAttribute', region: s.region}, () => client.send(new ModifyInstanceAttributeCommand({
          InstanceId: s.instanceId, BlockDeviceMappings: [{DeviceName: part.device, Ebs: {DeleteOnTermination: current?.Ebs?.DeleteOnTermination ?? true}}],
        })));
        if (old) await awsCall({action: 'DeleteVolume', region: s.region}, () => client.send(new DeleteVolumeCommand({VolumeId: old})));
      }
      if (s.hibernated) {
        // The hibernation image was on the replaced root volume: the next start boots.
        await recordAws(ctx.project.root, ctx.machine.name, (r) => { r.hibernated = undefined; });
        return {live: false, note: 'it was suspended (hibernated): its saved RAM went with the replaced root volume, so the next `box up` boots'};
      }
      if (!wasRunning) return {live: false};
      await provider.up(ctx);
      return {live: false, note: 'stopped, volumes replaced from the snapshot, started again'};
    },

    async delete(ctx, snapshot) {
      const {client, s} = await open(ctx);
      for (const part of (snapshot.details?.snapshots ?? []) as Array<{id: string}>) await deleteSnapshot(client, part.id, s.region);
    },
  };
}

function toInfo(name: string, parts: Snapshot[]): SnapshotInfo {
  const started = parts.map((p) => p.StartTime?.getTime() ?? 0).filter((t) => t > 0);
  const states = [...new Set(parts.map((p) => p.State))];
  return {
    name,
    ...(started.length > 0 ? {createdAt: new Date(Math.min(...started)).toISOString()} : {}),
    sizeBytes: parts.reduce((sum, p) => sum + (p.VolumeSize ?? 0) * 1024 ** 3, 0),
    withMemory: false,
    details: {state: states.length === 1 ? states[0] : states.join(','), snapshots: parts.map((p) => ({id: p.SnapshotId!, device: tagValue(p.Tags, TAG.device)!, volumeSizeGiB: p.VolumeSize}))},
  };
}

/** Every EBS snapshot box took of the machine (tagged with its token and a snapshot name). */
export async function machineSnapshots(client: EC2Client, s: AwsMachineState): Promise<Snapshot[]> {
  return awsCall({action: 'DescribeSnapshots', region: s.region}, () => allPages(paginateDescribeSnapshots({client}, {
    OwnerIds: ['self'], Filters: [{Name: `tag:${TAG.token}`, Values: [s.token]}, {Name: 'tag-key', Values: [TAG.snapshot]}],
  }), (p) => p.Snapshots));
}

function owner(ctx: MachineContext) {
  return {project: ctx.project.name, machine: ctx.machine.name, root: ctx.project.root};
}

/** The EC2 client of a machine, where it was created (the provider's `connectionOf`; passed in, as the provider imports this file). */
export type ClientFor = (machine: MachineContext['machine'], s: AwsMachineState) => EC2Client;

async function openMachine(ctx: MachineContext, clientFor: ClientFor, options: {needInstance?: boolean}): Promise<{client: EC2Client; s: AwsMachineState; instance?: Instance}> {
  const s = await readAwsState(ctx.project.root, ctx.machine.name);
  if (!s?.instanceId) throw new BoxError('ERR_NOT_CREATED', `Machine ${ctx.machine.name} is not created.`, {hint: `Run \`box up ${ctx.machine.name}\`.`});
  const client = clientFor(ctx.machine, s);
  if (!options.needInstance) return {client, s};
  const instance = (await awsCall({action: 'DescribeInstances', region: s.region}, () => client.send(new DescribeInstancesCommand({InstanceIds: [s.instanceId!]})))).Reservations?.[0]?.Instances?.[0];
  const state = instance?.State?.Name ?? 'gone';
  if (!instance || !['running', 'pending', 'stopped', 'stopping'].includes(state)) {
    throw new BoxError('ERR_NOT_SNAPSHOTTABLE', `Instance ${s.instanceId} of ${ctx.machine.name} is ${state}; box takes snapshots of running or stopped instances only.`, {hint: `Run \`box status ${ctx.machine.name}\`.`});
  }
  return {client, s, instance};
}

/**
 * `destroy`: after the instance is gone, the machine's snapshots and any volume a restore made
 * but never attached (box stopped halfway) go too; both are found by the machine's token tag.
 */
export async function deleteMachineSnapshots(client: EC2Client, s: AwsMachineState, ui: MachineContext['ui']): Promise<void> {
  const snapshots = await machineSnapshots(client, s);
  if (snapshots.length > 0) ui.stage('delete-snapshots', snapshots.map((x) => x.SnapshotId).join(' '));
  for (const snap of snapshots) await deleteSnapshot(client, snap.SnapshotId!, s.region);
  const loose = (await awsCall({action: 'DescribeVolumes', region: s.region}, () => client.send(new DescribeVolumesCommand({
    Filters: [{Name: `tag:${TAG.token}`, Values: [s.token]}, {Name: 'status', Values: ['available']}],
  })))).Volumes ?? [];
  for (const v of loose) await awsCall({action: 'DeleteVolume', region: s.region}, () => client.send(new DeleteVolumeCommand({VolumeId: v.VolumeId})));
}
