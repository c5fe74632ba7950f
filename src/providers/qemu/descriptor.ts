import type {TargetDescriptor} from '../target.js';
import {qemuBoxfileTarget} from './settings.js';

/** The qemu target: box runs qemu-system itself (KVM when it works, else TCG); libvirt boxes. */
export const qemuTarget: TargetDescriptor = {
  name: 'qemu',
  aliases: qemuBoxfileTarget.aliases!,
  settingsSchema: qemuBoxfileTarget.settings,
  boxfile: qemuBoxfileTarget,
  vagrantProvider: 'libvirt',
  features: {linkedClones: true, snapshots: true, privateNetwork: true, suspend: true, syncedFolderTypes: ['rsync', '9p', 'virtiofs'], cloudInit: ['user_data', 'meta_data', 'network_config']},
  build: {describe: 'qemu (libvirt box)'},
  async doctor(project) {
    return (await import('./doctor.js')).qemuReport({binary: project?.machines[0]?.qemu.binary});
  },
  async createProvider() {
    return (await import('./qemu-provider.js')).createQemuProvider();
  },
};
