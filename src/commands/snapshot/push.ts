import {projectFlags} from '../../services/project-flags.js';
import {BaseCommand} from '../../core/base-command.js';
import {concurrencyFlags, lifecycleOptions} from '../../services/lifecycle/options.js';
import {snapshotPush, type SnapshotSaveResult} from '../../services/snapshot.js';

export default class SnapshotPush extends BaseCommand {
  static override description = 'Save a snapshot under a generated name (push-<time>-<n>) on the machines; `box snapshot pop` goes back to it.';
  static override strict = false;
  static override usage = 'snapshot push [MACHINE...]';
  static override examples = ['<%= config.bin %> snapshot push'];
  static override flags = {...projectFlags, ...concurrencyFlags};

  async run(): Promise<SnapshotSaveResult> {
    const {flags, argv} = await this.parse(SnapshotPush);
    return snapshotPush(lifecycleOptions(flags, argv, this.ui, this.signal));
  }
}
