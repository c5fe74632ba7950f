import type {MachineConfig} from '../../boxfile/project.js';
import type {BoxVagrantfile} from '../../boxes/vagrantfile.js';

/** What a machine keeps of its box's Vagrantfile (recorded in its state at creation). */
export type BoxSettings = Pick<BoxVagrantfile, 'ssh' | 'libvirt'>;

/**
 * The machine as its box's Vagrantfile configures it, as Vagrant loads a box's Vagrantfile
 * before the user's: a setting the user's layers set (config.yaml, Boxfile, environment,
 * flags; `setByUser`) wins, a box setting wins over box's built-in defaults. The box's packed
 * key (`config.ssh.private_key_path`) is only the key of the first login: box replaces it with
 * the machine's own key as it does Vagrant's insecure key (everyone who has the box has it).
 */
export function withBoxSettings(machine: MachineConfig, box: BoxSettings | undefined): {machine: MachineConfig; firstLoginKey?: string} {
  if (!box) return {machine};
  // Without the record (a machine made in code), everything counts as set: nothing is overridden.
  const userSet = (setting: string): boolean => machine.setByUser === undefined || machine.setByUser.includes(setting);
  const ssh = {...machine.ssh};
  if (box.ssh.username !== undefined && !userSet('ssh.username')) ssh.username = box.ssh.username;
  if (box.ssh.port !== undefined && !userSet('ssh.port')) ssh.port = box.ssh.port;
  const qemu = {...machine.qemu};
  if (box.libvirt.memoryMiB !== undefined && !userSet('targets.qemu.memory')) qemu.memoryMiB = box.libvirt.memoryMiB;
  if (box.libvirt.cpus !== undefined && !userSet('targets.qemu.cpus')) qemu.cpus = box.libvirt.cpus;
  const firstLoginKey = box.ssh.privateKeyPath !== undefined && !userSet('ssh.private_key_path') ? box.ssh.privateKeyPath : undefined;
  return {machine: {...machine, ssh, qemu}, ...(firstLoginKey ? {firstLoginKey} : {})};
}
