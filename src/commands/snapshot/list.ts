import {projectFlags} from '../../services/project-flags.js';
import {BaseCommand} from '../../core/base-command.js';
import {lifecycleOptions} from '../../services/lifecycle/options.js';
import {snapshotList, type SnapshotListResult} from '../../services/snapshot.js';

export default class SnapshotList extends BaseCommand {
  static override description = 'List the machines\' snapshots: name, date, size of the saved memory, and whether it holds memory.';
  static override strict = false;
  static override usage = 'snapshot list [MACHINE...] [--json]';
  static override examples = ['<%= config.bin %> snapshot list', '<%= config.bin %> snapshot list web --json'];
  static override flags = {...projectFlags};
  protected override readonly exitOnInterrupt = true;

  async run(): Promise<SnapshotListResult> {
    const {flags, argv} = await this.parse(SnapshotList);
    const result = await snapshotList(lifecycleOptions(flags, argv, this.ui, this.signal));
    if (!this.jsonEnabled()) this.render(result);
    return result;
  }

  private render(result: SnapshotListResult): void {
    for (const m of result.machines) {
      this.log(`${m.name} (${m.target}): ${m.snapshots.length === 0 ? 'no snapshots' : ''}`.trimEnd());
      for (const s of m.snapshots) {
        const size = s.sizeBytes === undefined ? '' : `${(s.sizeBytes / 1024 ** 2).toFixed(1)} MiB`;
        this.log(`  ${s.name.padEnd(24)} ${(s.createdAt ?? '-').padEnd(24)}  ${size.padStart(10)}  ${s.withMemory ? 'disk+memory' : 'disk'}`);
      }
    }
  }
}
