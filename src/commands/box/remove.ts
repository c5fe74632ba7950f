import {Args, Flags} from '@oclif/core';
import {BaseCommand} from '../../core/base-command.js';
import {formatBytes} from '../../core/ui.js';
import type {ListedBox} from '../../services/box-list.js';
import {removeBox} from '../../services/box-remove.js';

export default class BoxRemove extends BaseCommand {
  static override summary = 'Remove a box from the local store.';
  static override description = 'Refuses while a machine known to box (the index in $BOX_HOME/machines.json) uses the box, unless --force, and when several versions/providers match, unless --all.\nExit codes: 0 ok, 1 failed (not found, in use), 2 usage error (ambiguous).';
  static override examples = [
    '<%= config.bin %> box remove debian-12 --box-version 1.0.0 --provider libvirt',
    '<%= config.bin %> box remove debian-12 --all --force',
  ];

  static override args = {
    name: Args.string({ignoreStdin: true, description: 'Box name.', required: true}),
  };

  static override flags = {
    'box-version': Flags.string({description: 'Version to remove.'}),
    provider: Flags.string({description: 'Provider to remove (libvirt, virtualbox, aws).'}),
    all: Flags.boolean({description: 'Remove every version and provider that matches.', default: false}),
    force: Flags.boolean({description: 'Remove even while machines use the box.', default: false}),
  };

  async run(): Promise<{removed: ListedBox[]}> {
    const {args, flags} = await this.parse(BoxRemove);
    const result = await removeBox({name: args.name, version: flags['box-version'], provider: flags.provider, all: flags.all, force: flags.force});
    for (const b of result.removed) this.ui.success(`Removed ${b.name} ${b.version} (${b.provider}), ${formatBytes(b.size)}`);
    return result;
  }
}
