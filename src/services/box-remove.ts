import {deleteStoredBox, diskUsage, listStoredBoxes} from '../boxes/store.js';
import {compareVersions} from '../boxes/version.js';
import {BoxError, UsageError} from '../core/errors.js';
import {readMachineIndex, type IndexEntry} from '../core/state.js';
import {machinesUsing} from '../boxes/in-use.js';
import type {ListedBox} from './box-list.js';

function describeUsers(users: IndexEntry[]): string {
  return users.map((u) => `${u.machine} (${u.projectRoot})`).join(', ');
}

export interface RemoveBoxOptions {
  name: string;
  version?: string;
  provider?: string;
  /** Remove every matching version/provider instead of refusing when several match. */
  all?: boolean;
  /** Remove even while machines use the box. */
  force?: boolean;
}

/**
 * `box box remove`: removes the installed box(es) matching name [+ version] [+ provider].
 * Refuses while a machine in the user index uses one of them (unless force), and when the
 * choice is ambiguous (unless all).
 */
export async function removeBox(options: RemoveBoxOptions): Promise<{removed: ListedBox[]}> {
  const installed = await listStoredBoxes({name: options.name});
  const matching = installed.filter((b) => (!options.version || compareVersions(b.version, options.version) === 0) && (!options.provider || b.provider === options.provider));
  if (matching.length === 0) {
    const what = [options.name, options.version, options.provider && `(${options.provider})`].filter(Boolean).join(' ');
    throw new BoxError('ERR_BOX_NOT_FOUND', `Box ${what} is not installed.`, {
      hint: installed.length ? `Installed: ${installed.map((b) => `${b.version} (${b.provider})`).join(', ')}.` : 'See `box box list`.',
    });
  }
  if (matching.length > 1 && !options.all) {
    throw new UsageError('ERR_BOX_AMBIGUOUS', `Several boxes match ${options.name}: ${matching.map((b) => `${b.version} (${b.provider})`).join(', ')}.`, {
      hint: 'Choose one with --box-version and --provider, or add --all to remove them all.',
    });
  }
  const index = await readMachineIndex();
  if (!options.force) {
    for (const box of matching) {
      const users = await machinesUsing(box, index);
      if (users.length) {
        throw new BoxError('ERR_BOX_IN_USE', `Box ${box.name} ${box.version} (${box.provider}) is used by ${describeUsers(users)}.`, {
          hint: 'Destroy those machines first (`box destroy`), or add --force to remove the box anyway.',
          details: {machines: users.map((u) => ({machine: u.machine, projectRoot: u.projectRoot}))},
        });
      }
    }
  }
  const removed: ListedBox[] = [];
  for (const box of matching.sort((a, b) => compareVersions(a.version, b.version))) {
    const size = await diskUsage(box.dir);
    await deleteStoredBox(box);
    removed.push({...box, size});
  }
  return {removed};
}
