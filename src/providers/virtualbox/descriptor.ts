import {virtualboxSettingsSchema} from '../../boxfile/schema.js';
import type {TargetDescriptor} from '../target.js';

/** The virtualbox target: VBoxManage, virtualbox boxes (box.ovf + VMDK). */
export const virtualboxTarget: TargetDescriptor = {
  name: 'virtualbox',
  aliases: [],
  settingsSchema: virtualboxSettingsSchema,
  vagrantProvider: 'virtualbox',
  features: {linkedClones: true, snapshots: false, privateNetwork: false, suspend: false},
  async doctor() {
    return (await import('./doctor.js')).virtualboxReport();
  },
  async createProvider() {
    return (await import('./virtualbox-provider.js')).createVirtualboxProvider();
  },
};
