import type {MachineConfig, Project} from '../../boxfile/project.js';
import {assignPrivateAddresses, privateMac} from '../../boxfile/private-network.js';
import type {Communicator, SshInfo} from '../../communicators/communicator.js';
import {runGuestScript} from '../../communicators/run-script.js';
import {createCommunicator} from '../../communicators/ssh/connect.js';
import {BoxError, errorMessage} from '../../core/errors.js';
import {machineDir} from '../../core/paths.js';
import {readMachineState, updateMachineState} from '../../core/state.js';
import type {MachineContext, Provider} from '../provider.js';
import {configureInterfaceScript, hostsBlockScript} from './private-network-scripts.js';

/**
 * The target-agnostic half of the private network: each target wires the NIC its own way
 * (qemu: a multicast socket; virtualbox: an internal network), the address plan and the guest
 * side are the same.
 */

/** A machine's address and MAC on the project's private network. */
export interface PrivateAddress {
  ip: string;
  mac: string;
}

/** How the guest is reached (SSH by default; a test passes its fake communicator). */
export type ConnectGuest = (info: SshInfo) => Promise<Communicator>;

/** The project's machines on its private network on this target. */
function members(project: Project, target: string): MachineConfig[] {
  return project.machines.filter((m) => m.networks.length > 0 && m.target === target);
}

/**
 * Before boot: the machine's address (the Boxfile's, or the one recorded by an earlier up, or a
 * new one), recorded in its state so it survives halt/up, and its MAC. Undefined when the
 * machine has no `networks`.
 */
export async function planPrivateAddress(project: Project, machine: MachineConfig): Promise<PrivateAddress | undefined> {
  if (machine.networks.length === 0) return undefined;
  // Addresses are unique across the whole project (one /24, as `validate` checks), whatever
  // each machine's target: the hosts blocks name every running machine.
  const requests = await Promise.all(project.machines.filter((m) => m.networks.length > 0).map(async (m) => ({
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
  return {ip: ip!, mac};
}

/**
 * After SSH answers: gives the guest's private NIC its address for good, and writes box's block
 * of /etc/hosts in it naming every running machine of the project (`web`, `web.<project>`), so
 * its provisioners can reach them. The others learn about this machine when the command's
 * machines are done (services/lifecycle/private-names.ts): machines going up at once would
 * otherwise write each other's hosts file at the same time.
 */
export async function configurePrivateNetwork(ctx: MachineContext, provider: Provider, nic: PrivateAddress, connect: ConnectGuest = createCommunicator): Promise<void> {
  const {project, machine} = ctx;
  const running: Array<{name: string; ip: string}> = [{name: machine.name, ip: nic.ip}];
  for (const other of members(project, machine.target)) {
    if (other.name === machine.name) continue;
    const otherCtx = {...ctx, machine: other, dir: machineDir(project.root, other.name)};
    const ip = (await readMachineState(project.root, other.name).catch(() => undefined))?.privateNetwork?.ip;
    if (ip && (await provider.status(otherCtx).catch(() => undefined))?.status === 'running') running.push({name: other.name, ip});
  }
  const lines = running.map((r) => `${r.ip} ${r.name} ${r.name}.${project.name}`).join('\n');
  // One connection for both (an SSH handshake costs seconds under TCG).
  await withGuest(ctx, provider, connect, async (run) => {
    await run(configureInterfaceScript, [nic.mac, `${nic.ip}/24`], 'configure its private network interface');
    await run(hostsBlockScript, [lines, '/etc/hosts'], 'write the private network\'s names into /etc/hosts');
  });
}

type RunScript = (script: string, args: string[], what: string) => Promise<void>;

/** Opens one SSH connection to a machine; `run` runs a private network script as root there, a failure naming the machine and what failed. */
async function withGuest(ctx: MachineContext, provider: Provider, connect: ConnectGuest, body: (run: RunScript) => Promise<void>): Promise<void> {
  const comm = await connect(await provider.sshInfo(ctx));
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
