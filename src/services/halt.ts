import type {StoppedBy} from '../providers/provider.js';
import {runMachines, settleMachines, type ConcurrencyOptions} from './lifecycle/run-machines.js';
import {runShutdownHooks} from './lifecycle/hooks.js';
import {clusterChanged} from './lifecycle/cluster-changed.js';
import {machineStatus, openMachines, projectMachines, withMachine, type LifecycleOptions} from './lifecycle/machines.js';
import {closeSharedConnection} from '../communicators/ssh/shared-connection.js';

export interface HaltOptions extends LifecycleOptions, ConcurrencyOptions {
  force: boolean;
  timeoutSeconds: number;
}

export interface HaltResult {
  machines: Array<{name: string; wasRunning: boolean; status: string; durationMs: number; stoppedBy?: StoppedBy}>;
}

/**
 * `box halt`: graceful shutdown escalating to a kill after the timeout; `force` kills at once.
 * Machines stop at once (`parallel` at most), each before the machines it depends on.
 */
export async function halt(options: HaltOptions): Promise<HaltResult> {
  const {project, handles} = await openMachines(options);
  const cluster = projectMachines(options);
  const outcomes = await runMachines(handles, {parallel: options.parallel, order: 'dependents-first', signal: options.signal}, async (handle) => {
    const t0 = Date.now();
    const entry = await withMachine(handle, async () => {
      const before = await machineStatus(handle, {insideLock: true});
      // A broken machine may still have a process; halt whatever is there.
      const wasRunning = before.status === 'running' || (before.status === 'broken' && before.details?.pid !== undefined);
      let stoppedBy: StoppedBy | undefined;
      if (before.status === 'suspended' && !options.force) {
        // Its saved state holds the guest's running processes: only --force throws them away.
        handle.ctx.ui.info(`${handle.machine.name} is suspended; its saved state is kept (\`box up\` resumes it, \`box halt --force\` discards it).`);
      } else if (before.status !== 'not-created') {
        // --force is a power cut: no guest work first.
        if (before.status === 'running' && !options.force) await runShutdownHooks(handle, cluster);
        if (wasRunning) handle.ctx.ui.stage('halt', `${handle.machine.name}${options.force ? ' (force)' : ''}`);
        await closeSharedConnection(handle.ctx.dir);
        stoppedBy = await handle.provider.halt(handle.ctx, {force: options.force, timeoutSeconds: options.timeoutSeconds}) ?? undefined;
      }
      const after = await machineStatus(handle, {insideLock: true});
      return {name: handle.machine.name, wasRunning, status: after.status, ...(stoppedBy ? {stoppedBy} : {})};
    });
    handle.ctx.ui.success(`${entry.name} is ${entry.status}`);
    return {...entry, durationMs: Date.now() - t0};
  });
  const wentDown = outcomes.flatMap((o) => o.ok && o.value.wasRunning && o.value.status !== 'running' ? [o.handle.machine.name] : []);
  await clusterChanged(project, cluster, {up: [], down: wentDown}, options);
  return {machines: settleMachines(outcomes, options.signal, (machine) => machine)};
}
