import type {TargetDescriptor} from '../target.js';
import {virtualboxBoxfileTarget} from './settings.js';

/** The virtualbox target: VBoxManage, virtualbox boxes (box.ovf + VMDK). */
export const virtualboxTarget: TargetDescriptor = {
  name: 'virtualbox',
  aliases: [],
  settingsSchema: virtualboxBoxfileTarget.settings,
  boxfile: virtualboxBoxfileTarget,
  vagrantProvider: 'virtualbox',
  features: {linkedClones: true, snapshots: true, privateNetwork: true, suspend: true, cloudInit: ['user_data', 'meta_data', 'network_config']},
  build: {describe: 'virtualbox (box.ovf + VMDK, built with QEMU)'},
  async doctor() {
    return (await import('./doctor.js')).virtualboxReport();
  },
  async createProvider() {
    return (await import('./virtualbox-provider.js')).createVirtualboxProvider();
  },
};
