import {readMachineIndex, type IndexEntry} from '../core/state.js';
import type {StoredBox} from './store.js';
import {compareVersions} from './version.js';

/** Machines in the user index (`~/.box/machines.json`) made from `box`. */
export async function machinesUsing(box: Pick<StoredBox, 'name' | 'version' | 'provider'>, index?: IndexEntry[]): Promise<IndexEntry[]> {
  const entries = index ?? await readMachineIndex();
  return entries.filter((e) => e.box && e.box.name === box.name && e.box.provider === box.provider && compareVersions(e.box.version, box.version) === 0);
}
