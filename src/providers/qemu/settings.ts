// The Boxfile side of the qemu target: its `targets.qemu` settings, aliases, defaults and the
// typed config the provider reads. Imported by the descriptor: zod and boxfile/ only.
import {z} from 'zod';
import {diskSchema, memorySchema, type BoxfileTargetPlugin} from '../../boxfile/schema.js';
import {diskGiB, memoryMiB} from '../../boxfile/sizes.js';

export const qemuSettingsSchema = z.object({
  cpus: z.number().int().min(1).max(256).optional().describe('Virtual CPUs (default 2).'),
  memory: memorySchema.optional(),
  disk: diskSchema.optional(),
  accel: z.enum(['auto', 'kvm', 'tcg']).optional().describe('auto uses KVM when it really works, else TCG (software emulation).'),
  machine_type: z.string().optional().describe('QEMU -machine type, default q35.'),
  extra_args: z.array(z.string()).optional().describe('Extra qemu-system arguments, appended as given.'),
  binary: z.string().optional().describe('qemu-system binary to use (default qemu-system-x86_64).'),
}).strict();

export type QemuSettings = z.output<typeof qemuSettingsSchema>;

export interface QemuConfig {
  cpus: number;
  memoryMiB: number;
  diskGiB: number;
  accel: 'auto' | 'kvm' | 'tcg';
  /** Who asked for `accel: kvm` (named when KVM does not work): "target: kvm", "--target kvm"... */
  kvmRequiredBy?: string;
  machineType: string;
  extraArgs: string[];
  binary: string;
}

declare module '../../boxfile/project.js' {
  interface TargetConfigs {
    qemu: QemuConfig;
  }
}

/**
 * `kvm` is QEMU with KVM required (accel: kvm: it fails, saying why, where KVM does not work,
 * instead of falling back to TCG); `libvirt` is what Vagrant calls it, though box runs QEMU
 * itself, without libvirtd. Their settings live under `targets.qemu`.
 */
export const qemuBoxfileTarget: BoxfileTargetPlugin = {
  name: 'qemu',
  settings: qemuSettingsSchema,
  aliases: [
    {name: 'kvm', means: 'qemu with KVM required', note: 'QEMU with KVM required', settings: {accel: 'kvm'},
      contradictions: {values: {accel: ['tcg']}, hint: 'drop it, or use target: qemu for TCG'}},
    {name: 'libvirt', means: 'another name for qemu', note: 'box runs QEMU itself, without libvirtd'},
  ],
  defaults: {cpus: 2, memory: 1024, disk: 10, accel: 'auto', machine_type: 'q35', binary: 'qemu-system-x86_64', extra_args: []},
  forwardsHostPorts: true,
  starter: (written) => [
    'cpus: 2',
    'memory: 1G        # MiB as a number, or a size with a unit: 512M, 2G',
    'disk: 10G         # GiB as a number, or a size with a unit',
    written === 'kvm' ? '# accel: kvm is implied by target: kvm (box fails, saying why, where KVM does not work)'
      : 'accel: auto       # auto uses KVM when it really works, else tcg (software emulation)',
  ],
  resolve(settings, context): QemuConfig {
    const q = settings as QemuSettings;
    const accel = q.accel ?? 'auto';
    return {
      cpus: q.cpus ?? 2,
      memoryMiB: memoryMiB(q.memory ?? 1024),
      diskGiB: diskGiB(q.disk ?? 10),
      accel,
      ...(accel === 'kvm' ? {kvmRequiredBy: context.forcedBy ?? 'targets.qemu.accel: kvm'} : {}),
      machineType: q.machine_type ?? 'q35',
      extraArgs: q.extra_args ?? [],
      binary: q.binary ?? 'qemu-system-x86_64',
    };
  },
};
