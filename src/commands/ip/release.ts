import {Flags} from '@oclif/core';
import {projectFlags} from '../../services/project-flags.js';
import {BaseCommand} from '../../core/base-command.js';
import {releaseIp, formatIps, type IpResult} from '../../services/aws-ip.js';
import {lifecycleOptions} from '../../services/lifecycle/options.js';

export default class IpRelease extends BaseCommand {
  static override description = 'Disassociate and release a machine\'s Elastic IP (`box destroy` releases them all).';
  static override strict = false;
  static override usage = 'ip release [MACHINE] [--ip ADDRESS|ALLOCATION_ID | --all]';
  static override examples = ['<%= config.bin %> ip release web', '<%= config.bin %> ip release web --all'];
  static override flags = {
    ...projectFlags,
    ip: Flags.string({description: 'Address or allocation id (needed when the machine has several).', exclusive: ['all']}),
    all: Flags.boolean({description: 'Release every Elastic IP of the machine.'}),
  };

  async run(): Promise<IpResult> {
    const {flags, argv} = await this.parse(IpRelease);
    const result = await releaseIp({...lifecycleOptions(flags, argv, this.ui, this.signal), allocation: flags.ip, all: flags.all});
    if (!this.jsonEnabled()) this.log(formatIps(result));
    return result;
  }
}
