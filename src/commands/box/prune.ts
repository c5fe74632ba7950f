import {Flags} from '@oclif/core';
import {BaseCommand} from '../../core/base-command.js';
import {formatBytes} from '../../core/ui.js';
import {pruneBoxes, type PruneResult} from '../../services/box-prune.js';

export default class BoxPrune extends BaseCommand {
  static override summary = 'Remove old box versions, keeping the newest of each name and provider.';
  static override description = 'Older versions still used by a machine known to box are kept. Partial downloads kept to resume interrupted adds are removed too (not those of an add running now).\nExit codes: 0 ok, 1 failed, 2 usage error.';
  static override examples = ['<%= config.bin %> box prune --dry-run', '<%= config.bin %> box prune --json'];

  static override flags = {
    'dry-run': Flags.boolean({description: 'Only show what would be removed.', default: false}),
  };

  async run(): Promise<PruneResult> {
    const {flags} = await this.parse(BoxPrune);
    const result = await pruneBoxes({dryRun: flags['dry-run']});
    const verb = result.dryRun ? 'Would remove' : 'Removed';
    for (const b of result.removed) this.ui.info(`${verb} ${b.name} ${b.version} (${b.provider}), ${formatBytes(b.size)}`);
    for (const b of result.inUse) this.ui.info(`Kept ${b.name} ${b.version} (${b.provider}): used by ${b.machines.join(', ')}`);
    for (const p of result.partialDownloads) this.ui.info(`${verb} the partial download of ${p.url ?? p.file}, ${formatBytes(p.size)}`);
    const what = [
      result.removed.length ? `${result.removed.length} box(es)` : '',
      result.partialDownloads.length ? `${result.partialDownloads.length} partial download(s)` : '',
    ].filter(Boolean).join(' and ');
    this.ui.success(what ? `${verb} ${what}, ${formatBytes(result.freed)}` : 'Nothing to prune.');
    return result;
  }
}
