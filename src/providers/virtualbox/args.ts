import type {PortForward} from '../shared/ports.js';

/**
 * VBoxManage argument lists, built here and nowhere else so they are unit-tested without
 * VirtualBox. Names follow VBoxManage's own syntax (VirtualBox 6.1 and 7.x).
 */

/** The NAT rule name box uses for SSH, as Vagrant does. */
export const SSH_RULE = 'ssh';

/** `name,proto,hostip,hostport,guestip,guestport`: the `--natpf1` rule syntax. */
export function natRule(name: string, p: PortForward): string {
  // A comma would split the rule: box's own names never contain one, and host IPs cannot.
  return [name, p.protocol, p.hostIp, String(p.host), '', String(p.guest)].join(',');
}

/** The rule name for a Boxfile forward: unique per protocol and host port, stable across boots. */
export function forwardRuleName(p: PortForward): string {
  return `${p.protocol}${p.host}`;
}

/** Every NAT rule of a boot: SSH on the chosen host port, then the Boxfile's forwarded_ports. */
export function natRules(sshPort: number, guestSshPort: number, forwards: PortForward[]): string[] {
  return [
    natRule(SSH_RULE, {protocol: 'tcp', hostIp: '127.0.0.1', host: sshPort, guest: guestSshPort}),
    ...forwards.map((p) => natRule(forwardRuleName(p), p)),
  ];
}

export function importArgs(ovf: string, spec: {vmName: string; cpus?: number; memoryMiB?: number}): string[] {
  return [
    'import', ovf, '--vsys', '0', '--vmname', spec.vmName,
    ...(spec.cpus === undefined ? [] : ['--cpus', String(spec.cpus)]),
    ...(spec.memoryMiB === undefined ? [] : ['--memory', String(spec.memoryMiB)]),
  ];
}

/** A linked clone shares the master's disk through its snapshot: seconds, whatever the box size. */
export function linkedCloneArgs(master: string, snapshot: string, vmName: string): string[] {
  return ['clonevm', master, '--snapshot', snapshot, '--options', 'link', '--name', vmName, '--register'];
}

/**
 * The settings applied before every boot (the VM must be powered off): sizes, NIC 1 on NAT with
 * box's port rules (old rules deleted first, as rules are per VM and survive a halt), and
 * serial port 1 written to a file so a failed boot can be diagnosed like on the qemu target.
 */
export function configureArgs(vmName: string, spec: {cpus: number; memoryMiB: number; deleteRules: string[]; rules: string[]; serialLog: string}): string[][] {
  const calls: string[][] = [[
    'modifyvm', vmName,
    '--cpus', String(spec.cpus),
    '--memory', String(spec.memoryMiB),
    '--nic1', 'nat',
    '--cableconnected1', 'on',
    '--uart1', '0x3F8', '4',
    '--uartmode1', 'file', spec.serialLog,
  ]];
  // One rule per call: VBoxManage takes a single --natpf1 per option, and a failing rule is then
  // named in the error.
  for (const name of spec.deleteRules) calls.push(['modifyvm', vmName, '--natpf1', 'delete', name]);
  for (const rule of spec.rules) calls.push(['modifyvm', vmName, '--natpf1', rule]);
  return calls;
}

export function startArgs(vmName: string, gui: boolean): string[] {
  return ['startvm', vmName, '--type', gui ? 'gui' : 'headless'];
}

/** NIC 2 on the project's internal network (VirtualBox's `intnet`: a switch only its VMs share). */
export interface InternalNic {
  network: string;
  /** `52:54:00:…` as box records it; VBoxManage takes the 12 hex digits without colons. */
  mac: string;
  /** NIC 1's adapter type, so the guest drives both NICs with the driver it already has. */
  nicType?: string;
}

/**
 * NIC 2 before a boot (VM powered off): on the project's internal network with the machine's
 * MAC, or removed (`none`) when the Boxfile no longer gives the machine a network.
 */
export function privateNicArgs(vmName: string, nic: InternalNic | undefined): string[] {
  if (!nic) return ['modifyvm', vmName, '--nic2', 'none'];
  return [
    'modifyvm', vmName,
    '--nic2', 'intnet',
    '--intnet2', nic.network,
    '--macaddress2', nic.mac.replaceAll(':', '').toUpperCase(),
    ...(nic.nicType ? ['--nictype2', nic.nicType] : []),
    '--cableconnected2', 'on',
  ];
}

/** The storage controller box adds for the cloud-init seed DVD (its own: boxes name theirs differently). */
export const SEED_CONTROLLER = 'box cloud-init';

/**
 * Before a boot (VM powered off): the NoCloud seed ISO on a DVD drive of box's own one-port SATA
 * controller, added when missing; or, with no seed, the controller (and its drive) removed.
 */
export function seedDvdArgs(vmName: string, iso: string | undefined, controllerExists: boolean): string[][] {
  if (!iso) return controllerExists ? [['storagectl', vmName, '--name', SEED_CONTROLLER, '--remove']] : [];
  return [
    ...(controllerExists ? [] : [['storagectl', vmName, '--name', SEED_CONTROLLER, '--add', 'sata', '--controller', 'IntelAhci', '--portcount', '1', '--bootable', 'off']]),
    ['storageattach', vmName, '--storagectl', SEED_CONTROLLER, '--port', '0', '--device', '0', '--type', 'dvddrive', '--medium', iso],
  ];
}
