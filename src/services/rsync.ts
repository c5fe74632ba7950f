import {runMachines, settleMachines, type ConcurrencyOptions} from './lifecycle/run-machines.js';
import {openMachines, requireRunning, withMachine, type LifecycleOptions} from './lifecycle/machines.js';
import {syncFolders, type FolderSyncResult} from './lifecycle/sync-folders.js';

export interface RsyncResult {
  machines: Array<{name: string; folders: FolderSyncResult[]; durationMs: number}>;
}

/**
 * `box rsync`: copies the rsync folders of running machines into their guests again (files
 * removed on the host are deleted there), as `box up` does, without a reboot or provisioners.
 */
export async function rsync(options: LifecycleOptions & ConcurrencyOptions): Promise<RsyncResult> {
  const {handles} = await openMachines(options);
  const outcomes = await runMachines(handles, {parallel: options.parallel, order: 'dependencies-first', signal: options.signal}, async (handle) => {
    const t0 = Date.now();
    const folders = await withMachine(handle, async () => {
      await requireRunning(handle, 'its folders sync into a running guest');
      const synced = await syncFolders(handle);
      if (handle.machine.syncedFolders.length === 0) handle.ctx.ui.info(`${handle.machine.name}: no synced folders in the Boxfile; nothing to copy.`);
      return synced;
    });
    return {name: handle.machine.name, folders, durationMs: Date.now() - t0};
  });
  return {machines: settleMachines(outcomes, options.signal, (machine) => machine)};
}
