import path from 'node:path';
import {errorMessage} from '../core/errors.js';
import {updateMachineState} from '../core/state.js';
import {BoxError} from '../core/errors.js';
import {runProvisioners} from '../provisioners/run-provisioners.js';
import {runMachines, settleMachines, type ConcurrencyOptions} from './lifecycle/run-machines.js';
import {openReadyCommunicator, openMachines, requireRunning, withMachine, type LifecycleOptions, type MachineHandle} from './lifecycle/machines.js';

export interface ProvisionResult {
  machines: Array<{name: string; provisioners: number; durationMs: number}>;
}

/** Runs a machine's provisioners over its communicator and records success. No lock taken. */
export async function provisionMachine(handle: MachineHandle): Promise<number> {
  const {ctx, machine} = handle;
  if (machine.provisioners.length === 0) {
    await updateMachineState(ctx.project.root, machine.name, (s) => { s.provisioned = true; });
    return 0;
  }
  const ssh = await handle.provider.sshInfo(ctx);
  const comm = await openReadyCommunicator(handle, {info: ssh});
  try {
    await runProvisioners({comm, ssh, machine: machine.name, ui: ctx.ui, signal: ctx.signal, projectRoot: path.dirname(ctx.project.boxfilePath), outputPrefix: machine.name}, machine.provisioners);
  } finally {
    await comm.close().catch(() => undefined);
  }
  await updateMachineState(ctx.project.root, machine.name, (s) => { s.provisioned = true; });
  return machine.provisioners.length;
}

/**
 * `box provision`: runs the provisioners again on running machines, at once (`parallel` at
 * most), each after the machines it depends on.
 */
export async function provision(options: LifecycleOptions & ConcurrencyOptions): Promise<ProvisionResult> {
  const {handles} = await openMachines(options);
  const outcomes = await runMachines(handles, {parallel: options.parallel, order: 'dependencies-first', signal: options.signal}, async (handle) => {
    const t0 = Date.now();
    const count = await withMachine(handle, async () => {
      await requireRunning(handle, 'provisioners need it running');
      handle.ctx.ui.stage('provision', handle.machine.name);
      try {
        return await provisionMachine(handle);
      } catch (error) {
        if (error instanceof BoxError) throw error;
        throw new BoxError('ERR_PROVISION_FAILED', `Provisioning ${handle.machine.name} failed: ${errorMessage(error)}`);
      }
    });
    return {name: handle.machine.name, provisioners: count, durationMs: Date.now() - t0};
  });
  return {machines: settleMachines(outcomes, options.signal, (machine) => machine)};
}
