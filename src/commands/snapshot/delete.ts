import {projectFlags} from '../../services/project-flags.js';
import {BaseCommand} from '../../core/base-command.js';
import {concurrencyFlags, lifecycleOptions} from '../../services/lifecycle/options.js';
import {nameAndMachines, snapshotDelete, type SnapshotDeleteResult} from '../../services/snapshot.js';

export default class SnapshotDelete extends BaseCommand {
  static override description = 'Delete a named snapshot from the machines (all of the project by default).';
  static override strict = false;
  static override usage = 'snapshot delete NAME [MACHINE...]';
  static override examples = ['<%= config.bin %> snapshot delete before-upgrade'];
  static override flags = {...projectFlags, ...concurrencyFlags};

  async run(): Promise<SnapshotDeleteResult> {
    const {flags, argv} = await this.parse(SnapshotDelete);
    const {snapshot, names} = nameAndMachines(argv, 'delete');
    return snapshotDelete({...lifecycleOptions(flags, names, this.ui, this.signal), snapshot});
  }
}
