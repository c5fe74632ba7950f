import {projectFlags} from '../services/project-flags.js';
import {BaseCommand} from '../core/base-command.js';
import {suspend, type SuspendResult} from '../services/suspend.js';
import {concurrencyFlags, lifecycleOptions} from '../services/lifecycle/options.js';

export default class Suspend extends BaseCommand {
  static override description = 'Save running machines\' memory and device state and stop them; `box up` or `box resume` continues them where they were, without a boot.';
  static override strict = false;
  static override usage = 'suspend [MACHINE...] [--parallel N | --no-parallel]';
  static override examples = ['<%= config.bin %> suspend', '<%= config.bin %> suspend web --json'];

  static override flags = {
    ...projectFlags,
    ...concurrencyFlags,
  };

  async run(): Promise<SuspendResult> {
    const {flags, argv} = await this.parse(Suspend);
    return suspend(lifecycleOptions(flags, argv, this.ui, this.signal));
  }
}
