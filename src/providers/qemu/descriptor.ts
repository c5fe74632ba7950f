import {qemuSettingsSchema} from '../../boxfile/schema.js';
import type {TargetDescriptor} from '../target.js';

/** The qemu target: box runs qemu-system itself (KVM when it works, else TCG); libvirt boxes. */
export const qemuTarget: TargetDescriptor = {
  name: 'qemu',
  aliases: ['kvm', 'libvirt'],
  settingsSchema: qemuSettingsSchema,
  vagrantProvider: 'libvirt',
  features: {linkedClones: true, snapshots: false, privateNetwork: true, suspend: false},
  async doctor(project) {
    return (await import('./doctor.js')).qemuReport({binary: project?.machines[0]?.qemu.binary});
  },
  async createProvider() {
    return (await import('./qemu-provider.js')).createQemuProvider();
  },
};
