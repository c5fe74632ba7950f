import {randomUUID} from 'node:crypto';
import {AllocateAddressCommand, AssociateAddressCommand, DescribeAddressesCommand, DisassociateAddressCommand, ReleaseAddressCommand} from '@aws-sdk/client-ec2';
import {BoxError, UsageError} from '../core/errors.js';
import {connectionOf} from '../providers/aws/aws-provider.js';
import {ec2Client} from '../providers/aws/client.js';
import {awsCall, awsErrorCode, mapAwsError} from '../providers/aws/errors.js';
import {readAwsState, recordAws, type AwsMachineState} from '../providers/aws/machine-state.js';
import {TAG, boxTags, tagSpec} from '../providers/aws/tags.js';
import {openMachines, withMachine, type LifecycleOptions, type MachineHandle} from './lifecycle/machines.js';

export interface ElasticIp {
  machine: string;
  allocationId: string;
  publicIp?: string;
  associationId?: string;
  instanceId?: string;
}

export interface IpResult {
  addresses: ElasticIp[];
}

/** The one aws machine an `ip` command acts on (the only machine, or the one named). */
async function oneAwsMachine(options: LifecycleOptions): Promise<MachineHandle> {
  const {handles} = await openMachines(options);
  if (handles.length !== 1) {
    throw new UsageError('ERR_MACHINE_REQUIRED', `This project has ${handles.length} machines: name one (${handles.map((h) => h.machine.name).join(', ')}).`, {hint: 'For example `box ip list web`.'});
  }
  const handle = handles[0];
  if (handle.machine.target !== 'aws') {
    throw new UsageError('ERR_AWS_ONLY', `Machine ${handle.machine.name} uses the ${handle.machine.target} target; Elastic IPs exist only on aws.`, {hint: 'Set `target: aws` in the Boxfile or pass --target aws.'});
  }
  return handle;
}

async function createdState(handle: MachineHandle): Promise<AwsMachineState> {
  const s = await readAwsState(handle.ctx.project.root, handle.machine.name);
  if (!s?.instanceId) throw new BoxError('ERR_NOT_CREATED', `Machine ${handle.machine.name} is not created on aws.`, {hint: `Run \`box up ${handle.machine.name} --target aws\` first.`});
  return s;
}

/** Allocates an Elastic IP for the machine (recorded before the call, tagged), optionally associating it. */
export async function allocateIp(options: LifecycleOptions & {associate: boolean}): Promise<IpResult> {
  const handle = await oneAwsMachine(options);
  return withMachine(handle, async () => {
    const {project, machine} = handle.ctx;
    const s = await createdState(handle);
    const client = ec2Client(connectionOf(machine, s));
    const token = `box-${randomUUID()}`;
    await recordAws(project.root, machine.name, (st) => { st.elasticIps.push({token}); });
    const owner = {project: project.name, machine: machine.name, root: project.root};
    const out = await awsCall({action: 'AllocateAddress', region: s.region}, () => client.send(new AllocateAddressCommand({
      Domain: 'vpc', TagSpecifications: tagSpec(['elastic-ip'], boxTags(owner, `box-${project.name}-${machine.name}`, {...machine.aws.tags, [TAG.token]: token})),
    })));
    await recordAws(project.root, machine.name, (st) => {
      const e = st.elasticIps.find((x) => x.token === token)!;
      e.allocationId = out.AllocationId;
      e.publicIp = out.PublicIp;
    });
    handle.ctx.ui.success(`allocated ${out.PublicIp} (${out.AllocationId}) for ${machine.name}`);
    if (options.associate) await associateLocked(handle, out.AllocationId);
    return listIps(options, handle);
  });
}

function findRecorded(s: AwsMachineState, which: string | undefined, machine: string) {
  const known = s.elasticIps.filter((e) => e.allocationId);
  if (!which) {
    if (known.length === 1) return known[0];
    throw new UsageError('ERR_IP_REQUIRED', known.length === 0 ? `Machine ${machine} has no Elastic IP.` : `Machine ${machine} has ${known.length} Elastic IPs: name one (${known.map((e) => e.publicIp ?? e.allocationId).join(', ')}).`, {
      hint: known.length === 0 ? `Run \`box ip allocate ${machine}\`.` : 'Pass --ip with the address or allocation id.',
    });
  }
  const found = known.find((e) => e.allocationId === which || e.publicIp === which);
  if (!found) throw new UsageError('ERR_IP_UNKNOWN', `"${which}" is not an Elastic IP of machine ${machine}.`, {hint: `See \`box ip list ${machine}\`.`});
  return found;
}

export async function associateIp(options: LifecycleOptions & {allocation?: string}): Promise<IpResult> {
  const handle = await oneAwsMachine(options);
  return withMachine(handle, async () => {
    await associateLocked(handle, options.allocation);
    return listIps(options, handle);
  });
}

/** Associates while the caller holds the machine lock. */
async function associateLocked(handle: MachineHandle, allocation: string | undefined): Promise<void> {
  const {project, machine} = handle.ctx;
  const s = await createdState(handle);
  const e = findRecorded(s, allocation, machine.name);
  const client = ec2Client(connectionOf(machine, s));
  const out = await awsCall({action: 'AssociateAddress', region: s.region}, () => client.send(new AssociateAddressCommand({AllocationId: e.allocationId, InstanceId: s.instanceId, AllowReassociation: false})));
  await recordAws(project.root, machine.name, (st) => { st.elasticIps.find((x) => x.token === e.token)!.associationId = out.AssociationId; });
  handle.ctx.ui.success(`${e.publicIp} now points at ${s.instanceId} (${machine.name})`);
}

export async function releaseIp(options: LifecycleOptions & {allocation?: string; all: boolean}): Promise<IpResult> {
  const handle = await oneAwsMachine(options);
  return withMachine(handle, async () => {
    const {project, machine} = handle.ctx;
    const s = await readAwsState(project.root, machine.name);
    if (!s) return {addresses: []};
    const client = ec2Client(connectionOf(machine, s));
    const targets = options.all ? s.elasticIps.filter((e) => e.allocationId) : [findRecorded(s, options.allocation, machine.name)];
    for (const e of targets) {
      // Ask EC2 for the current association: it may have been moved outside box.
      const current = (await awsCall({action: 'DescribeAddresses', region: s.region}, () => client.send(new DescribeAddressesCommand({AllocationIds: [e.allocationId!]}))).catch(() => undefined))?.Addresses?.[0];
      const associationId = current?.AssociationId ?? e.associationId;
      if (associationId) await awsCall({action: 'DisassociateAddress', region: s.region}, () => client.send(new DisassociateAddressCommand({AssociationId: associationId}))).catch(() => undefined);
      try {
        await client.send(new ReleaseAddressCommand({AllocationId: e.allocationId}));
      } catch (error) {
        if (awsErrorCode(error) !== 'InvalidAllocationID.NotFound') throw mapAwsError(error, {action: 'ReleaseAddress', region: s.region});
      }
      await recordAws(project.root, machine.name, (st) => { st.elasticIps = st.elasticIps.filter((x) => x.token !== e.token); });
      handle.ctx.ui.success(`released ${e.publicIp ?? e.allocationId}`);
    }
    return listIps(options, handle);
  });
}

/** The machine's Elastic IPs as EC2 reports them now (recorded ones plus any tagged for it). */
export async function listIps(options: LifecycleOptions, known?: MachineHandle): Promise<IpResult> {
  if (!known && options.names.length === 0) {
    // No machine named: the addresses of every aws machine of the project (read-only, so no need to pick one).
    const {handles} = await openMachines(options);
    const results = await Promise.all(handles.filter((h) => h.machine.target === 'aws').map((h) => listIpsOf(h)));
    return {addresses: results.flatMap((r) => r.addresses)};
  }
  return listIpsOf(known ?? await oneAwsMachine(options));
}

async function listIpsOf(handle: MachineHandle): Promise<IpResult> {
  const {project, machine} = handle.ctx;
  const s = await readAwsState(project.root, machine.name);
  if (!s) return {addresses: []};
  const client = ec2Client(connectionOf(machine, s));
  const out = await awsCall({action: 'DescribeAddresses', region: s.region}, () => client.send(new DescribeAddressesCommand({
    Filters: [{Name: `tag:${TAG.root}`, Values: [project.root]}, {Name: `tag:${TAG.machine}`, Values: [machine.name]}],
  })));
  const recorded = new Set(s.elasticIps.map((e) => e.allocationId));
  const addresses = (out.Addresses ?? []).filter((a) => recorded.has(a.AllocationId) || a.Tags?.some((t) => t.Key === TAG.token && s.elasticIps.some((e) => e.token === t.Value)));
  return {
    addresses: addresses.map((a) => ({machine: machine.name, allocationId: a.AllocationId!, publicIp: a.PublicIp, associationId: a.AssociationId, instanceId: a.InstanceId})),
  };
}

/** One line per address, for the non-JSON output of the `box ip` commands. */
export function formatIps(result: IpResult): string {
  if (result.addresses.length === 0) return 'No Elastic IPs.';
  return result.addresses.map((a) => `${a.machine}\t${a.publicIp ?? '-'}\t${a.allocationId}\t${a.instanceId ? `-> ${a.instanceId}` : '(not associated)'}`).join('\n');
}
