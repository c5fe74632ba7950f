import {BoxError, errorMessage} from '../core/errors.js';
import {isStateCorrupt, unindexMachine} from '../core/state.js';
import {runShutdownHooks} from './lifecycle/hooks.js';
import {clusterChanged} from './lifecycle/cluster-changed.js';
import {hasMachineFiles, machineStatus, openMachines, projectMachines, removeMachineDir, withMachine, type LifecycleOptions} from './lifecycle/machines.js';
import {removeLeftovers} from '../providers/registry.js';
import {runMachines, settleMachines, type ConcurrencyOptions} from './lifecycle/run-machines.js';
import {closeSharedConnection} from '../communicators/ssh/shared-connection.js';

export interface DestroyResult {
  machines: Array<{name: string; destroyed: boolean; previousStatus: string}>;
}

/**
 * `box destroy`: kills the machine, removes its disk, state and index entry. Idempotent, and
 * works on half-created machines (state without process, process without complete state).
 * `confirm` is asked per machine that exists (the command asks only on a TTY without --force),
 * before any goes; then machines go at once (`parallel` at most), each before those it depends on.
 */
export async function destroy(options: LifecycleOptions & ConcurrencyOptions & {confirm?: (machine: string) => Promise<boolean>}): Promise<DestroyResult> {
  const {project, handles} = await openMachines(options);
  const cluster = projectMachines(options);
  // Also what killed bakes and image transfers left in the temp dir (keys, disk images).
  await removeLeftovers().catch((error) => options.ui.warn(`could not remove leftover work folders: ${errorMessage(error)}`));
  // Asked before anything goes, one machine at a time: questions to the user cannot interleave.
  const kept = new Set<string>();
  for (const handle of handles) {
    if (options.confirm && await hasMachineFiles(handle.ctx.dir) && !(await options.confirm(handle.machine.name))) kept.add(handle.machine.name);
  }
  const outcomes = await runMachines(handles, {parallel: options.parallel, order: 'dependents-first', signal: options.signal}, async (handle) => {
    if (!(await hasMachineFiles(handle.ctx.dir))) {
      // Through the lock: it frees the lock of a box killed before it made anything (a live
      // holder is waited for, as for a created machine), and withMachine removes the empty folder.
      await withMachine(handle, async () => undefined);
      await unindexMachine(project.root, handle.machine.name);
      return {name: handle.machine.name, destroyed: false, previousStatus: 'not-created'};
    }
    if (kept.has(handle.machine.name)) return {name: handle.machine.name, destroyed: false, previousStatus: 'kept'};
    const previous = await withMachine(handle, async () => {
      const before = await machineStatus(handle, {insideLock: true});
      if (before.status === 'running') await runShutdownHooks(handle, cluster);
      handle.ctx.ui.stage('destroy', handle.machine.name);
      await closeSharedConnection(handle.ctx.dir);
      try {
        await handle.provider.destroy(handle.ctx);
      } catch (error) {
        // A provider that needs its record to find what it made (aws) cannot destroy without it.
        if (!isStateCorrupt(error)) throw error;
        throw new BoxError('ERR_STATE_CORRUPT', `${error.message} The ${handle.machine.target} target needs it to find what the machine made, so nothing was removed.`, {
          hint: handle.machine.target === 'aws'
            ? `\`box sweep\` finds the cloud resources box tagged for this project; then delete ${handle.ctx.dir}.`
            : `Remove what the machine made by hand, then delete ${handle.ctx.dir}.`,
          details: error.details,
        });
      }
      return before.status;
    });
    await removeMachineDir(project.root, handle.machine.name);
    await unindexMachine(project.root, handle.machine.name);
    handle.ctx.ui.success(`${handle.machine.name} destroyed`);
    return {name: handle.machine.name, destroyed: true, previousStatus: previous};
  });
  const gone = outcomes.flatMap((o) => o.ok && o.value.previousStatus === 'running' ? [o.handle.machine.name] : []);
  await clusterChanged(project, cluster, {up: [], down: gone}, options);
  return {machines: settleMachines(outcomes, options.signal, (machine) => machine)};
}
