import {BoxError, UsageError} from '../core/errors.js';
import type {SuspendOutcome} from '../providers/provider.js';
import {clusterChanged} from './lifecycle/cluster-changed.js';
import {machineStatus, openMachines, projectMachines, withMachine, type LifecycleOptions} from './lifecycle/machines.js';
import {runMachines, settleMachines, type ConcurrencyOptions} from './lifecycle/run-machines.js';
import {closeSharedConnection} from '../communicators/ssh/shared-connection.js';

export interface SuspendResult {
  machines: Array<{
    name: string;
    target: string;
    /** It ran before, and was suspended by this command (false: it was suspended already). */
    suspended: boolean;
    status: string;
    method?: SuspendOutcome['method'];
    stateBytes?: number;
    timings?: Record<string, number>;
    durationMs: number;
  }>;
}

/**
 * `box suspend` (and `box halt --suspend`): saves each running machine's state and stops it;
 * the next `box up` or `box resume` continues it. A target that cannot suspend is refused
 * before any machine is touched. No shutdown hooks run (the guest does not shut down), but the
 * other machines learn it left, as after a halt.
 */
export async function suspend(options: LifecycleOptions & ConcurrencyOptions): Promise<SuspendResult> {
  const {project, handles} = await openMachines(options);
  const unsupported = handles.filter((h) => !h.provider.suspend);
  if (unsupported.length > 0) {
    const targets = [...new Set(unsupported.map((h) => h.machine.target))];
    throw new UsageError('ERR_NOT_SUPPORTED', `\`box suspend\` is not supported yet on the ${targets.join(', ')} target (${unsupported.map((h) => h.machine.name).join(', ')}); nothing was changed.`, {
      hint: `\`box halt ${unsupported.map((h) => h.machine.name).join(' ')}\` shuts it down instead.`,
    });
  }
  // A machine its target cannot suspend (an aws instance launched without hibernation): refused before any is touched.
  for (const handle of handles) {
    const refusal = await handle.provider.suspendRefusal?.(handle.ctx);
    if (refusal) throw refusal;
  }
  const cluster = projectMachines(options);
  const outcomes = await runMachines(handles, {parallel: options.parallel, order: 'dependents-first', signal: options.signal}, async (handle) => {
    const t0 = Date.now();
    const entry = await withMachine(handle, async (): Promise<Omit<SuspendResult['machines'][number], 'durationMs'>> => {
      const before = await machineStatus(handle, {insideLock: true});
      const base = {name: handle.machine.name, target: handle.machine.target};
      if (before.status === 'suspended') {
        handle.ctx.ui.info(`${handle.machine.name} is suspended already.`);
        return {...base, suspended: false, status: before.status};
      }
      if (before.status !== 'running') {
        throw new BoxError('ERR_NOT_RUNNING', `${handle.machine.name} is ${before.status}${before.reason ? ` (${before.reason})` : ''}; only a running machine can be suspended.`, {
          hint: before.repair ? `Run \`${before.repair}\`.` : `Run \`box up ${handle.machine.name}\` first.`,
        });
      }
      handle.ctx.ui.stage('suspend', handle.machine.name);
      await closeSharedConnection(handle.ctx.dir);
      const outcome = await handle.provider.suspend!(handle.ctx);
      const after = await machineStatus(handle, {insideLock: true});
      return {...base, suspended: true, status: after.status, method: outcome.method, ...(outcome.stateBytes === undefined ? {} : {stateBytes: outcome.stateBytes}), ...(outcome.timings ? {timings: outcome.timings} : {})};
    });
    handle.ctx.ui.success(`${entry.name} is ${entry.status}${entry.stateBytes ? ` (${(entry.stateBytes / 1024 ** 2).toFixed(0)} MiB saved)` : ''} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return {...entry, durationMs: Date.now() - t0};
  });
  // A failed suspension that still stopped the machine (EC2's plain stop in place of a hibernation) took it away too.
  const wentDown = outcomes.flatMap((o) => (o.ok ? o.value.suspended : stoppedAnyway(o.error)) ? [o.handle.machine.name] : []);
  await clusterChanged(project, cluster, {up: [], down: wentDown}, options);
  return {machines: settleMachines(outcomes, options.signal, (machine) => machine)};
}

/** An error that says the machine stopped all the same (`details.status: 'stopped'`). */
function stoppedAnyway(error: unknown): boolean {
  return error instanceof BoxError && error.details?.status === 'stopped';
}
