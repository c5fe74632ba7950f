import {projectFlags} from '../../services/project-flags.js';
import {BaseCommand} from '../../core/base-command.js';
import {listIps, formatIps, type IpResult} from '../../services/aws-ip.js';
import {lifecycleOptions} from '../../services/lifecycle/options.js';

export default class IpList extends BaseCommand {
  static override description = 'List a machine\'s Elastic IPs as EC2 reports them.';
  static override strict = false;
  static override usage = 'ip list [MACHINE] [--json]';
  static override examples = ['<%= config.bin %> ip list web --json'];
  static override flags = {...projectFlags};

  async run(): Promise<IpResult> {
    const {flags, argv} = await this.parse(IpList);
    const result = await listIps(lifecycleOptions(flags, argv, this.ui, this.signal));
    if (!this.jsonEnabled()) this.log(formatIps(result));
    return result;
  }
}
