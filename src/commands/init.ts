import {Flags} from '@oclif/core';
import {defaultTargetName, targetAliasSpecs, targetInputNames, type TargetInput} from '../boxfile/schema.js';
import {BaseCommand} from '../core/base-command.js';
import '../providers/registry.js';
import {DEFAULT_BASEBOX, initBoxfile, type InitResult} from '../services/init.js';

/** "kvm: qemu with KVM required": the aliases that force settings. */
const forcingAliases = targetAliasSpecs().filter((a) => a.settings).map((a) => `${a.name}: ${a.means}`).join('; ');

export default class Init extends BaseCommand {
  static override description = `Write a commented starter Boxfile in the current folder.

Refuses to replace an existing Boxfile unless --force (exit code 2).`;

  static override examples = [
    '<%= config.bin %> init',
    '<%= config.bin %> init --basebox "debian-12@>= 1.0, < 2" --target qemu',
    '<%= config.bin %> init --basebox ./boxes/debian-12.box --force',
  ];

  static override flags = {
    basebox: Flags.string({description: `Box to start from: store name (optionally @constraint), .box path or URL. Default ${DEFAULT_BASEBOX}.`}),
    target: Flags.string({description: `Where the machine runs. Default ${defaultTargetName()}${forcingAliases ? ` (${forcingAliases})` : ''}.`, options: targetInputNames()}),
    force: Flags.boolean({char: 'f', description: 'Replace an existing Boxfile.'}),
  };

  async run(): Promise<InitResult> {
    const {flags} = await this.parse(Init);
    const result = await initBoxfile({dir: process.cwd(), basebox: flags.basebox, target: flags.target as TargetInput | undefined, force: flags.force});
    if (!this.jsonEnabled()) {
      this.log(`Wrote ${result.boxfile} (basebox ${result.basebox}, target ${result.target}).`);
      this.log('Next: `box validate`, then `box up`.');
    }
    return result;
  }
}
