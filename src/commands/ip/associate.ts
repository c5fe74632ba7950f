import {Flags} from '@oclif/core';
import {projectFlags} from '../../services/project-flags.js';
import {BaseCommand} from '../../core/base-command.js';
import {associateIp, formatIps, type IpResult} from '../../services/aws-ip.js';
import {lifecycleOptions} from '../../services/lifecycle/options.js';

export default class IpAssociate extends BaseCommand {
  static override description = 'Point one of a machine\'s Elastic IPs at its instance.';
  static override strict = false;
  static override usage = 'ip associate [MACHINE] [--ip ADDRESS|ALLOCATION_ID]';
  static override examples = ['<%= config.bin %> ip associate web', '<%= config.bin %> ip associate web --ip 203.0.113.10'];
  static override flags = {
    ...projectFlags,
    ip: Flags.string({description: 'Address or allocation id (needed when the machine has several).'}),
  };

  async run(): Promise<IpResult> {
    const {flags, argv} = await this.parse(IpAssociate);
    const result = await associateIp({...lifecycleOptions(flags, argv, this.ui, this.signal), allocation: flags.ip});
    if (!this.jsonEnabled()) this.log(formatIps(result));
    return result;
  }
}
