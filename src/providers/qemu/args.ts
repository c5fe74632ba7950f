import type {GuestHardware} from '../../boxes/metadata.js';
import type {PortForward} from '../shared/ports.js';
import type {Accel} from './accel.js';

export type {GuestHardware, PortForward};

/** Everything needed to start one machine's QEMU; built from the Boxfile and the machine dir. */
export interface LaunchSpec {
  name: string;
  machineType: string;
  accel: Accel;
  cpus: number;
  memoryMiB: number;
  disk: string;
  qmpSocket: string;
  pidFile: string;
  serialLog: string;
  sshPort: number;
  forwardedPorts: PortForward[];
  /** Direct kernel boot (boxes built by box ship vmlinuz + initrd.img): faster than GRUB. */
  kernel?: {kernel: string; initrd?: string; cmdline?: string};
  /** The guest's disk bus and NIC (a box's `disk_bus`/`nic_model`); virtio unless the box says otherwise (Windows without virtio drivers). */
  hardware?: GuestHardware;
  extraArgs: string[];
}

/** The -drive/-device arguments that attach the machine's disk on the given bus. */
export function diskArgs(disk: string, bus: GuestHardware['diskBus']): string[] {
  const file = qemuEscape(disk);
  if (bus === 'ide') return ['-drive', `file=${file},if=ide,format=qcow2`];
  if (bus === 'sata') return ['-device', 'ahci,id=ahci0', '-drive', `file=${file},if=none,id=disk0,format=qcow2,discard=unmap`, '-device', 'ide-hd,drive=disk0,bus=ahci0.0'];
  return ['-drive', `file=${file},if=virtio,format=qcow2,discard=unmap`];
}

/** QEMU option values are comma-separated; a comma inside a path is written twice. */
export function qemuEscape(value: string): string {
  return value.replaceAll(',', ',,');
}

/** The qemu-system argument list. Pure, so it is unit-tested without QEMU. */
export function buildQemuArgs(spec: LaunchSpec): string[] {
  const hostfwd = [
    `hostfwd=tcp:127.0.0.1:${spec.sshPort}-:22`,
    ...spec.forwardedPorts.map((p) => `hostfwd=${p.protocol}:${p.hostIp}:${p.host}-:${p.guest}`),
  ];
  const args = [
    '-name', spec.name.replace(/[^A-Za-z0-9_.-]/g, '-'),
    '-machine', `${spec.machineType}`,
    ...(spec.accel === 'kvm'
      ? ['-accel', 'kvm', '-cpu', 'host']
      // Multi-threaded TCG uses every host core for an -smp guest.
      : ['-accel', 'tcg,thread=multi', '-cpu', 'max']),
    '-smp', String(spec.cpus),
    '-m', String(spec.memoryMiB),
    ...diskArgs(spec.disk, spec.hardware?.diskBus ?? 'virtio'),
    '-netdev', ['user', 'id=net0', ...hostfwd].join(','),
    '-device', `${spec.hardware?.nicModel ?? 'virtio-net-pci'},netdev=net0`,
    // Entropy for the guest's sshd on first boot (host keys, getrandom) without stalls.
    '-device', 'virtio-rng-pci',
    '-qmp', `unix:${qemuEscape(spec.qmpSocket)},server=on,wait=off`,
    '-serial', `file:${qemuEscape(spec.serialLog)}`,
    '-display', 'none',
    '-monitor', 'none',
    '-pidfile', spec.pidFile,
    '-daemonize',
  ];
  if (spec.kernel) {
    args.push('-kernel', spec.kernel.kernel);
    if (spec.kernel.initrd) args.push('-initrd', spec.kernel.initrd);
    args.push('-append', withSerialConsole(spec.kernel.cmdline ?? 'root=/dev/vda1 ro'));
  }
  args.push(...spec.extraArgs);
  return args;
}

/** The serial log is only useful if the kernel writes its console there. */
function withSerialConsole(cmdline: string): string {
  return /\bconsole=ttyS0\b/.test(cmdline) ? cmdline : `${cmdline} console=ttyS0`;
}
