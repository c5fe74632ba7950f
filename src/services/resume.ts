import {BoxError} from '../core/errors.js';
import {machineStatus, openMachines, type LifecycleOptions} from './lifecycle/machines.js';
import type {ConcurrencyOptions} from './lifecycle/run-machines.js';
import {up, type UpMachineResult} from './up.js';

export interface ResumeResult {
  machines: Array<Pick<UpMachineResult, 'name' | 'target' | 'status' | 'ssh' | 'timings' | 'durationMs'> & {resumed: boolean}>;
}

/**
 * `box resume` (Vagrant's): continues suspended machines through `up`, which resumes a
 * suspended machine; provisioners run only with `provision`. A machine that is neither suspended
 * nor running is refused before any machine is touched (`box up` boots a stopped one).
 */
export async function resume(options: LifecycleOptions & ConcurrencyOptions & {provision?: boolean}): Promise<ResumeResult> {
  const {handles} = await openMachines(options);
  const refused: string[] = [];
  for (const handle of handles) {
    const {status} = await machineStatus(handle);
    if (status !== 'suspended' && status !== 'running') refused.push(`${handle.machine.name} is ${status}`);
  }
  if (refused.length > 0) {
    throw new BoxError('ERR_NOT_SUSPENDED', `Nothing to resume: ${refused.join(', ')}; nothing was changed.`, {
      hint: '`box up` starts a stopped machine (and resumes a suspended one); `box status` shows where each is.',
    });
  }
  const result = await up({...options, names: handles.map((h) => h.machine.name), provision: options.provision === true, destroyOnError: false});
  return {
    machines: result.machines.map((m) => ({
      name: m.name, target: m.target, resumed: !m.wasRunning, status: m.status, ssh: m.ssh, timings: m.timings, durationMs: m.durationMs,
    })),
  };
}
