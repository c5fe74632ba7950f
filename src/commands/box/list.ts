import {Flags} from '@oclif/core';
import {BaseCommand} from '../../core/base-command.js';
import {printableLine} from '../../core/printable.js';
import {formatBytes} from '../../core/ui.js';
import {listBoxes, type ListedBox} from '../../services/box-list.js';

export default class BoxList extends BaseCommand {
  protected override readonly exitOnInterrupt = true;
  static override summary = 'List the boxes in the local store (name, version, provider, size on disk).';
  static override description = 'Reads the Vagrant-compatible store in $BOX_HOME/boxes (default ~/.box/boxes).\nExit codes: 0 ok, 1 failed, 2 usage error.';
  static override examples = ['<%= config.bin %> box list', '<%= config.bin %> box list --name debian-12 --json'];

  static override flags = {
    name: Flags.string({description: 'Only boxes with this name.'}),
  };

  async run(): Promise<{boxes: ListedBox[]}> {
    const {flags} = await this.parse(BoxList);
    const boxes = await listBoxes({name: flags.name});
    if (!this.jsonEnabled()) {
      if (boxes.length === 0) {
        this.ui.info('No boxes installed. Add one with `box box add NAME FILE|URL` or `box box add CATALOG.json`.');
      } else {
        // Folder names in the store are not ours alone (Vagrant, hand-made boxes): escape them.
        const rows = boxes.map((b) => [printableLine(b.name), printableLine(b.version), printableLine(b.provider), formatBytes(b.size)]);
        const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i].length), ['NAME', 'VERSION', 'PROVIDER'][i].length));
        const line = (r: string[]): string => `${r[0].padEnd(widths[0])}  ${r[1].padEnd(widths[1])}  ${r[2].padEnd(widths[2])}  ${r[3]}`;
        this.log(line(['NAME', 'VERSION', 'PROVIDER', 'SIZE']));
        for (const r of rows) this.log(line(r));
      }
    }
    return {boxes};
  }
}
