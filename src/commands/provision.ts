import {Flags} from '@oclif/core';
import {projectFlags} from '../services/project-flags.js';
import {BaseCommand} from '../core/base-command.js';
import {concurrencyFlags, lifecycleOptions} from '../services/lifecycle/options.js';
import {provision, type ProvisionResult} from '../services/provision.js';
import {parseProvisionWith} from '../provisioners/select.js';

export default class Provision extends BaseCommand {
  static override description = 'Run the provisioners again on running machines.';
  static override strict = false;
  static override usage = 'provision [MACHINE...] [--provision-with NAME[,NAME]] [--parallel N | --no-parallel]';
  static override examples = ['<%= config.bin %> provision', '<%= config.bin %> provision web --json', '<%= config.bin %> provision --provision-with site,seed'];

  static override flags = {
    ...projectFlags,
    ...concurrencyFlags,
    'provision-with': Flags.string({multiple: true, multipleNonGreedy: true, description: 'Run only these provisioners (names or types, comma-separated), including `run: never` ones.'}),
  };

  async run(): Promise<ProvisionResult> {
    const {flags, argv} = await this.parse(Provision);
    return provision({...lifecycleOptions(flags, argv, this.ui, this.signal), provisionWith: parseProvisionWith(flags['provision-with'])});
  }
}
