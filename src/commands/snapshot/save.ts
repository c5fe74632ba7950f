import {Flags} from '@oclif/core';
import {projectFlags} from '../../services/project-flags.js';
import {BaseCommand} from '../../core/base-command.js';
import {concurrencyFlags, lifecycleOptions} from '../../services/lifecycle/options.js';
import {nameAndMachines, snapshotSave, type SnapshotSaveResult} from '../../services/snapshot.js';

export default class SnapshotSave extends BaseCommand {
  static override description = 'Save a named snapshot of the machines (all of the project by default, the same NAME on each). qemu: live (disk and memory) when running, disk only when halted.';
  static override strict = false;
  static override usage = 'snapshot save NAME [MACHINE...] [--force]';
  static override examples = ['<%= config.bin %> snapshot save before-upgrade', '<%= config.bin %> snapshot save s1 web --force'];
  static override flags = {
    ...projectFlags,
    ...concurrencyFlags,
    force: Flags.boolean({char: 'f', description: 'Replace a snapshot of the same name.'}),
  };

  async run(): Promise<SnapshotSaveResult> {
    const {flags, argv} = await this.parse(SnapshotSave);
    const {snapshot, names} = nameAndMachines(argv, 'save');
    return snapshotSave({...lifecycleOptions(flags, names, this.ui, this.signal), snapshot, force: flags.force});
  }
}
