import {Flags} from '@oclif/core';
import {projectFlags} from '../../services/project-flags.js';
import {BaseCommand} from '../../core/base-command.js';
import {concurrencyFlags, lifecycleOptions} from '../../services/lifecycle/options.js';
import {snapshotPop, type SnapshotRestoreResult} from '../../services/snapshot.js';

export default class SnapshotPop extends BaseCommand {
  static override description = 'Restore the newest pushed snapshot on the machines, then delete it (unless --no-delete).';
  static override strict = false;
  static override usage = 'snapshot pop [MACHINE...] [--no-delete]';
  static override examples = ['<%= config.bin %> snapshot pop', '<%= config.bin %> snapshot pop --no-delete'];
  static override flags = {
    ...projectFlags,
    ...concurrencyFlags,
    'no-delete': Flags.boolean({description: 'Keep the snapshot after restoring it.'}),
  };

  async run(): Promise<SnapshotRestoreResult & {deleted: boolean}> {
    const {flags, argv} = await this.parse(SnapshotPop);
    return snapshotPop({...lifecycleOptions(flags, argv, this.ui, this.signal), keep: flags['no-delete']});
  }
}
