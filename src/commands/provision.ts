import {projectFlags} from '../services/project-flags.js';
import {BaseCommand} from '../core/base-command.js';
import {concurrencyFlags, lifecycleOptions} from '../services/lifecycle/options.js';
import {provision, type ProvisionResult} from '../services/provision.js';

export default class Provision extends BaseCommand {
  static override description = 'Run the provisioners again on running machines.';
  static override strict = false;
  static override usage = 'provision [MACHINE...] [--parallel N | --no-parallel]';
  static override examples = ['<%= config.bin %> provision', '<%= config.bin %> provision web --json'];

  static override flags = {...projectFlags, ...concurrencyFlags};

  async run(): Promise<ProvisionResult> {
    const {flags, argv} = await this.parse(Provision);
    return provision(lifecycleOptions(flags, argv, this.ui, this.signal));
  }
}
