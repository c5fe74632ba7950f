// OWNER: boxfile helper. Flags shared by every command that works on a project.
import {Flags} from '@oclif/core';
import {targetInputNames} from './schema.js';

export const projectFlags = {
  boxfile: Flags.file({description: 'Path to the Boxfile (default: ./Boxfile, searched upwards).', env: 'BOX_BOXFILE', helpGroup: 'PROJECT'}),
  env: Flags.string({char: 'e', description: 'Environment overlay from the Boxfile (dev, test, prod...).', env: 'BOX_ENV', helpGroup: 'PROJECT'}),
  target: Flags.string({description: 'Override the target of every machine (kvm: qemu with KVM required; libvirt: another name for qemu).', options: targetInputNames(), helpGroup: 'PROJECT'}),
};
