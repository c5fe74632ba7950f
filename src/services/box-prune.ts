import {prunePartialDownloads, type PartialDownload} from '../boxes/download-cache.js';
import {deleteStoredBox, diskUsage, listStoredBoxes} from '../boxes/store.js';
import {compareVersions} from '../boxes/version.js';
import {readMachineIndex} from '../core/state.js';
import type {ListedBox} from './box-list.js';
import {machinesUsing} from '../boxes/in-use.js';

export interface PruneResult {
  dryRun: boolean;
  /** Removed (or, with dryRun, would be removed). */
  removed: ListedBox[];
  /** Newest version of each name + provider. */
  kept: ListedBox[];
  /** Older versions kept because a machine uses them. */
  inUse: Array<ListedBox & {machines: string[]}>;
  /** Partial downloads of interrupted http adds (not those of an add running now). */
  partialDownloads: PartialDownload[];
  /** Bytes freed (or that would be freed), boxes and partial downloads together. */
  freed: number;
}

/**
 * `box box prune`: keeps the newest version of each name + provider and in-use boxes; removes
 * the rest, and the partial downloads kept for resuming interrupted adds.
 */
export async function pruneBoxes(options: {dryRun?: boolean} = {}): Promise<PruneResult> {
  const boxes = await listStoredBoxes();
  const index = await readMachineIndex();
  const groups = new Map<string, typeof boxes>();
  for (const b of boxes) groups.set(`${b.name}\0${b.provider}`, [...(groups.get(`${b.name}\0${b.provider}`) ?? []), b]);
  const result: PruneResult = {dryRun: Boolean(options.dryRun), removed: [], kept: [], inUse: [], partialDownloads: [], freed: 0};
  for (const group of groups.values()) {
    group.sort((a, b) => compareVersions(a.version, b.version));
    const newest = group.pop()!;
    result.kept.push({...newest, size: await diskUsage(newest.dir)});
    for (const box of group) {
      const size = await diskUsage(box.dir);
      const users = await machinesUsing(box, index);
      if (users.length) {
        result.inUse.push({...box, size, machines: users.map((u) => `${u.machine} (${u.projectRoot})`)});
        continue;
      }
      if (!options.dryRun) await deleteStoredBox(box);
      result.removed.push({...box, size});
      result.freed += size;
    }
  }
  result.partialDownloads = await prunePartialDownloads({dryRun: options.dryRun});
  result.freed += result.partialDownloads.reduce((sum, p) => sum + p.size, 0);
  return result;
}
