import {createHash} from 'node:crypto';
import type {MachineConfig, Project} from '../../boxfile/project.js';
import {assignPrivateAddresses, privateMac} from '../../boxfile/private-network.js';
import {runGuestScript} from '../../communicators/run-script.js';
import {createCommunicator} from '../../communicators/ssh/connect.js';
import {BoxError, errorMessage} from '../../core/errors.js';
import {machineDir} from '../../core/paths.js';
import {readMachineState, updateMachineState} from '../../core/state.js';
import type {MachineContext, Provider} from '../provider.js';
import {configureInterfaceScript, hostsBlockScript} from '../shared/private-network-scripts.js';
import type {PrivateNic} from './args.js';

/** The machine's private NIC as planned before boot: the QEMU side plus its address. */
export interface PlannedNic extends PrivateNic {
  ip: string;
}

/** The project's machines on its private network (on this target). */
function members(project: Project): MachineConfig[] {
  return project.machines.filter((m) => m.networks.length > 0 && m.target === 'qemu');
}

/**
 * The project's multicast segment: a group in 239.192.0.0/14 (organisation-local scope, never
 * routed off a site; here never off the loopback) and a UDP port, both from a hash of the
 * project folder, so two projects never share frames.
 */
export function multicastSegment(projectRoot: string): {group: string; port: number} {
  const d = createHash('sha256').update(`box-private-mcast\0${projectRoot}`).digest();
  return {group: `239.${192 + (d[0]! & 3)}.${d[1]}.${d[2]! === 0 ? 1 : d[2]}`, port: 20_000 + (d.readUInt16BE(3) % 20_000)};
}

/**
 * Before boot: the machine's address (the Boxfile's, or the one recorded by an earlier up, or a
 * new one), recorded in its state so it survives halt/up, its MAC and the project's segment.
 * Undefined when the machine has no `networks`.
 */
export async function planPrivateNetwork(project: Project, machine: MachineConfig): Promise<PlannedNic | undefined> {
  if (machine.networks.length === 0) return undefined;
  const requests = await Promise.all(members(project).map(async (m) => ({
    name: m.name,
    ip: m.networks[0]?.ip,
    recorded: (await readMachineState(project.root, m.name).catch(() => undefined))?.privateNetwork?.ip,
  })));
  let ip: string | undefined;
  try {
    ip = assignPrivateAddresses(project.root, requests).get(machine.name);
  } catch (error) {
    throw new BoxError('ERR_PRIVATE_NETWORK', `${errorMessage(error)}.`, {hint: 'Give the machines explicit addresses with networks: [{type: private, ip: ...}].'});
  }
  const mac = privateMac(project.root, machine.name);
  await updateMachineState(project.root, machine.name, (s) => { s.privateNetwork = {ip: ip!, mac}; });
  return {ip: ip!, mac, ...multicastSegment(project.root)};
}

/**
 * After SSH answers: gives the guest's private NIC its address for good, and writes box's block
 * of /etc/hosts in it naming every running machine of the project (`web`, `web.<project>`), so
 * its provisioners can reach them. The others learn about this machine when the command's
 * machines are done (services/lifecycle/private-names.ts): machines going up at once would
 * otherwise write each other's hosts file at the same time.
 */
export async function configurePrivateNetwork(ctx: MachineContext, provider: Provider, nic: PlannedNic): Promise<void> {
  const {project, machine} = ctx;
  const running: Array<{name: string; ip: string}> = [{name: machine.name, ip: nic.ip}];
  for (const other of members(project)) {
    if (other.name === machine.name) continue;
    const otherCtx = {...ctx, machine: other, dir: machineDir(project.root, other.name)};
    const ip = (await readMachineState(project.root, other.name).catch(() => undefined))?.privateNetwork?.ip;
    if (ip && (await provider.status(otherCtx).catch(() => undefined))?.status === 'running') running.push({name: other.name, ip});
  }
  const lines = running.map((r) => `${r.ip} ${r.name} ${r.name}.${project.name}`).join('\n');
  // One connection for both (an SSH handshake costs seconds under TCG).
  await withGuest(ctx, provider, async (run) => {
    await run(configureInterfaceScript, [nic.mac, `${nic.ip}/24`], 'configure its private network interface');
    await run(hostsBlockScript, [lines, '/etc/hosts'], 'write the private network\'s names into /etc/hosts');
  });
}

type RunScript = (script: string, args: string[], what: string) => Promise<void>;

/** Opens one SSH connection to a machine; `run` runs a private network script as root there, a failure naming the machine and what failed. */
async function withGuest(ctx: MachineContext, provider: Provider, body: (run: RunScript) => Promise<void>): Promise<void> {
  const comm = await createCommunicator(await provider.sshInfo(ctx));
  try {
    await body(async (script, args, what) => {
      let output = '';
      const code = await runGuestScript(comm, {inline: script}, {privileged: true, args, signal: ctx.signal, onOutput: (_s, data) => { output += data; }});
      if (code !== 0) {
        throw new BoxError('ERR_PRIVATE_NETWORK', `${ctx.machine.name}: could not ${what} (exit ${code}): ${output.trim().split('\n').slice(-3).join(' ') || 'no output'}`);
      }
    });
  } finally {
    await comm.close();
  }
}
