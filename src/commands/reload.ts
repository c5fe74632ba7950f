import {Flags} from '@oclif/core';
import {projectFlags} from '../services/project-flags.js';
import {BaseCommand} from '../core/base-command.js';
import {concurrencyFlags, lifecycleOptions} from '../services/lifecycle/options.js';
import {reload} from '../services/reload.js';
import type {UpResult} from '../services/up.js';
import {parseProvisionWith} from '../provisioners/select.js';

export default class Reload extends BaseCommand {
  static override description = 'Halt then up again (picks up Boxfile changes to cpus, memory and ports).';
  static override strict = false;
  static override usage = 'reload [MACHINE...] [--provision | --provision-with NAME[,NAME]] [--force] [--timeout SECONDS] [--parallel N | --no-parallel]';
  static override examples = ['<%= config.bin %> reload', '<%= config.bin %> reload web --provision'];

  static override flags = {
    ...projectFlags,
    ...concurrencyFlags,
    provision: Flags.boolean({allowNo: true, description: 'Run the provisioners after the boot (default: only if they never succeeded).'}),
    'provision-with': Flags.string({multiple: true, multipleNonGreedy: true, description: 'Run only these provisioners (names or types, comma-separated) after the boot; implies --provision.', exclusive: ['provision']}),
    force: Flags.boolean({char: 'f', description: 'Kill instead of a graceful shutdown.'}),
    timeout: Flags.integer({description: 'Seconds to wait for a graceful shutdown before killing.', default: 60, min: 1}),
  };

  async run(): Promise<UpResult> {
    const {flags, argv} = await this.parse(Reload);
    return reload({...lifecycleOptions(flags, argv, this.ui, this.signal), provision: flags.provision, provisionWith: parseProvisionWith(flags['provision-with']), destroyOnError: false, force: flags.force, timeoutSeconds: flags.timeout});
  }
}
