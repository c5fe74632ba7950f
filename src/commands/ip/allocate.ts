import {Flags} from '@oclif/core';
import {projectFlags} from '../../services/project-flags.js';
import {BaseCommand} from '../../core/base-command.js';
import {allocateIp, formatIps, type IpResult} from '../../services/aws-ip.js';
import {lifecycleOptions} from '../../services/lifecycle/options.js';

export default class IpAllocate extends BaseCommand {
  static override description = 'Allocate an Elastic IP for an aws machine (recorded in .box/ and tagged), optionally pointing it at the machine.';
  static override strict = false;
  static override usage = 'ip allocate [MACHINE] [--associate]';
  static override examples = ['<%= config.bin %> ip allocate web --associate'];
  static override flags = {
    ...projectFlags,
    associate: Flags.boolean({description: 'Associate the new address with the machine at once.'}),
  };

  async run(): Promise<IpResult> {
    const {flags, argv} = await this.parse(IpAllocate);
    const result = await allocateIp({...lifecycleOptions(flags, argv, this.ui, this.signal), associate: flags.associate});
    if (!this.jsonEnabled()) this.log(formatIps(result));
    return result;
  }
}
