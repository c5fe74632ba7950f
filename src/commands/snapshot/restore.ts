import {projectFlags} from '../../services/project-flags.js';
import {BaseCommand} from '../../core/base-command.js';
import {concurrencyFlags, lifecycleOptions} from '../../services/lifecycle/options.js';
import {nameAndMachines, snapshotRestore, type SnapshotRestoreResult} from '../../services/snapshot.js';

export default class SnapshotRestore extends BaseCommand {
  static override description = 'Put the machines back to a named snapshot (all of the project by default). A live qemu snapshot resumes the running guest in its saved state.';
  static override strict = false;
  static override usage = 'snapshot restore NAME [MACHINE...]';
  static override examples = ['<%= config.bin %> snapshot restore before-upgrade', '<%= config.bin %> snapshot restore s1 web'];
  static override flags = {...projectFlags, ...concurrencyFlags};

  async run(): Promise<SnapshotRestoreResult> {
    const {flags, argv} = await this.parse(SnapshotRestore);
    const {snapshot, names} = nameAndMachines(argv, 'restore');
    return snapshotRestore({...lifecycleOptions(flags, names, this.ui, this.signal), snapshot});
  }
}
