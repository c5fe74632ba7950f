import {Flags} from '@oclif/core';
import {projectFlags} from '../services/project-flags.js';
import {BaseCommand} from '../core/base-command.js';
import {lifecycleOptions} from '../services/lifecycle/options.js';
import {rsyncAuto, type RsyncAutoResult} from '../services/rsync-auto.js';

export default class RsyncAuto extends BaseCommand {
  static override description = 'Copy the rsync synced folders into running machines, then again whenever they change, until Ctrl-C (exit 130).';
  static override strict = false;
  static override usage = 'rsync-auto [MACHINE...] [--debounce MS]';
  static override examples = ['<%= config.bin %> rsync-auto', '<%= config.bin %> rsync-auto web --debounce 100'];

  static override flags = {
    ...projectFlags,
    debounce: Flags.integer({description: 'Milliseconds without changes before a copy starts (a burst of writes is one copy).', default: 300, min: 0, max: 60_000}),
  };

  async run(): Promise<RsyncAutoResult> {
    const {flags, argv} = await this.parse(RsyncAuto);
    return rsyncAuto({...lifecycleOptions(flags, argv, this.ui, this.signal), debounceMs: flags.debounce});
  }
}
