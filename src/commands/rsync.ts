import {projectFlags} from '../services/project-flags.js';
import {BaseCommand} from '../core/base-command.js';
import {concurrencyFlags, lifecycleOptions} from '../services/lifecycle/options.js';
import {rsync, type RsyncResult} from '../services/rsync.js';

export default class Rsync extends BaseCommand {
  static override description = 'Copy the rsync synced folders into running machines again (files removed on the host are deleted in the guest).';
  static override strict = false;
  static override usage = 'rsync [MACHINE...] [--parallel N | --no-parallel]';
  static override examples = ['<%= config.bin %> rsync', '<%= config.bin %> rsync web --json'];

  static override flags = {...projectFlags, ...concurrencyFlags};

  async run(): Promise<RsyncResult> {
    const {flags, argv} = await this.parse(Rsync);
    return rsync(lifecycleOptions(flags, argv, this.ui, this.signal));
  }
}
