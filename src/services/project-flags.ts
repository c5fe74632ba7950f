// Flags shared by every command that works on a project. Here, above providers/, because
// --target's choices are the registered targets and their aliases: importing this module
// registers the built-ins (plug-ins registered before it load are listed too), and the
// built-in provisioners' Boxfile entries (ansible...), so every command's Boxfile knows them.
import {Flags} from '@oclif/core';
import {targetAliasSpecs, targetInputNames} from '../boxfile/schema.js';
import '../providers/registry.js';
import '../provisioners/registry.js';

/** "kvm: qemu with KVM required; libvirt: another name for qemu" */
function aliasHelp(): string {
  return targetAliasSpecs().map((a) => `${a.name}: ${a.means}`).join('; ');
}

export const projectFlags = {
  boxfile: Flags.file({description: 'Path to the Boxfile (default: ./Boxfile, searched upwards).', env: 'BOX_BOXFILE', helpGroup: 'PROJECT'}),
  env: Flags.string({char: 'e', description: 'Environment overlay from the Boxfile (dev, test, prod...).', env: 'BOX_ENV', helpGroup: 'PROJECT'}),
  instance: Flags.string({description: 'Work on this instance of the project (the one `box ci` made, whose id it printed): its own machines, state and names.', env: 'BOX_INSTANCE', helpGroup: 'PROJECT'}),
  target: Flags.string({description: `Override the target of every machine${aliasHelp() ? ` (${aliasHelp()})` : ''}.`, options: targetInputNames(), helpGroup: 'PROJECT'}),
};
