import {randomUUID} from 'node:crypto';
import {BoxError, UsageError} from '../core/errors.js';
import {connectionOf} from '../providers/aws/aws-provider.js';
import {ec2Client} from '../providers/aws/client.js';
import {allocateAddress, allocationKey, associateAddress, machineAddresses, releaseAddress, type Address} from '../providers/aws/elastic-ips.js';
import {readAwsState, recordAws, type AwsMachineState} from '../providers/aws/machine-state.js';
import {TAG, boxTags, tagValue} from '../providers/aws/tags.js';
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

/** Allocates an Elastic IP for the machine (recorded before the call, tagged on allocation), optionally associating it. */
export async function allocateIp(options: LifecycleOptions & {associate: boolean}): Promise<IpResult> {
  const handle = await oneAwsMachine(options);
  return withMachine(handle, async () => {
    const {project, machine} = handle.ctx;
    const s = await createdState(handle);
    const client = ec2Client(connectionOf(machine, s));
    const token = `box-${randomUUID()}`;
    await recordAws(project.root, machine.name, (st) => { st.elasticIps.push({token}); });
    const owner = {project: project.name, machine: machine.name, root: project.root};
    const out = await allocateAddress(client, boxTags(owner, `box-${project.name}-${machine.name}`, {...machine.aws.tags, [TAG.token]: token}), s.region);
    await recordAws(project.root, machine.name, (st) => {
      const e = st.elasticIps.find((x) => x.token === token)!;
      e.allocationId = out.allocationId;
      e.publicIp = out.publicIp;
    });
    // AllocateAddress has no ClientToken: an answer lost after EC2 acted, retried by the SDK,
    // allocates a second (paid) address with the same tags. Keep the one EC2 answered with.
    const copies = (await machineAddresses(client, (await readAwsState(project.root, machine.name))!, {root: project.root, machine: machine.name}))
      .filter((a) => allocationKey(a) === token && a.AllocationId !== out.allocationId);
    for (const copy of copies) await releaseAddress(client, copy, s.region, handle.ctx.ui);
    handle.ctx.ui.success(`allocated ${out.publicIp} (${out.allocationId}) for ${machine.name}`);
    if (options.associate) await associateLocked(handle, out.allocationId);
    return listIps(options, handle);
  });
}

/**
 * The addresses one `ip` command acts on, from everything EC2 has for the machine: the one named
 * by --ip (address or allocation id) or the only one, together with the copies of the same
 * allocation (same box:token) that a retried AllocateAddress made.
 */
function pick(addresses: Address[], which: string | undefined, machine: string): Address[] {
  const groups = new Map<string, Address[]>();
  for (const a of addresses) groups.set(allocationKey(a), [...(groups.get(allocationKey(a)) ?? []), a]);
  if (!which) {
    if (groups.size === 1) return [...groups.values()][0];
    throw new UsageError('ERR_IP_REQUIRED', groups.size === 0 ? `Machine ${machine} has no Elastic IP.` : `Machine ${machine} has ${groups.size} Elastic IPs: name one (${[...groups.values()].map((g) => g[0].PublicIp ?? g[0].AllocationId).join(', ')}).`, {
      hint: groups.size === 0 ? `Run \`box ip allocate ${machine}\`.` : 'Pass --ip with the address or allocation id.',
    });
  }
  const found = addresses.find((a) => a.AllocationId === which || a.PublicIp === which);
  if (!found) throw new UsageError('ERR_IP_UNKNOWN', `"${which}" is not an Elastic IP of machine ${machine}.`, {hint: `See \`box ip list ${machine}\`.`});
  return groups.get(allocationKey(found))!;
}

async function addressesOf(handle: MachineHandle, s: AwsMachineState): Promise<Address[]> {
  const {project, machine} = handle.ctx;
  return machineAddresses(ec2Client(connectionOf(machine, s)), s, {root: project.root, machine: machine.name});
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
  const group = pick(await addressesOf(handle, s), allocation, machine.name);
  // Of copies of one allocation, the one box recorded (the others are released by `ip release`).
  const a = group.find((x) => s.elasticIps.some((e) => e.allocationId === x.AllocationId)) ?? group[0];
  const client = ec2Client(connectionOf(machine, s));
  const associationId = await associateAddress(client, a.AllocationId, s.instanceId, s.region);
  await recordAws(project.root, machine.name, (st) => {
    const e = st.elasticIps.find((x) => x.allocationId === a.AllocationId);
    if (e) e.associationId = associationId;
  });
  handle.ctx.ui.success(`${a.PublicIp} now points at ${s.instanceId} (${machine.name})`);
}

/** Releases the named (or only) Elastic IP of the machine, or all of them, as EC2 has them: recorded or only tagged. */
export async function releaseIp(options: LifecycleOptions & {allocation?: string; all: boolean}): Promise<IpResult> {
  const handle = await oneAwsMachine(options);
  return withMachine(handle, async () => {
    const {project, machine} = handle.ctx;
    const s = await readAwsState(project.root, machine.name);
    if (!s) return {addresses: []};
    const client = ec2Client(connectionOf(machine, s));
    const addresses = await addressesOf(handle, s);
    const targets = options.all ? addresses : pick(addresses, options.allocation, machine.name);
    for (const a of targets) {
      await releaseAddress(client, a, s.region, handle.ctx.ui);
      await recordAws(project.root, machine.name, (st) => { st.elasticIps = st.elasticIps.filter((x) => x.allocationId !== a.AllocationId && x.token !== tagValue(a.Tags, TAG.token)); });
    }
    if (options.all) await recordAws(project.root, machine.name, (st) => { st.elasticIps = []; });
    return listIps(options, handle);
  });
}

/** The machine's Elastic IPs as EC2 reports them now: every address tagged for it, and recorded ones. */
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
  const addresses = await addressesOf(handle, s);
  return {
    addresses: addresses.map((a) => ({machine: machine.name, allocationId: a.AllocationId!, publicIp: a.PublicIp, associationId: a.AssociationId, instanceId: a.InstanceId})),
  };
}

/** One line per address, for the non-JSON output of the `box ip` commands. */
export function formatIps(result: IpResult): string {
  if (result.addresses.length === 0) return 'No Elastic IPs.';
  return result.addresses.map((a) => `${a.machine}\t${a.publicIp ?? '-'}\t${a.allocationId}\t${a.instanceId ? `-> ${a.instanceId}` : '(not associated)'}`).join('\n');
}
