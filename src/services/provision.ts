import path from 'node:path';
import {errorMessage} from '../core/errors.js';
import {updateMachineState} from '../core/state.js';
import {BoxError} from '../core/errors.js';
import {isProjectWide, runProvisioners, type ProvisionerResult} from '../provisioners/run-provisioners.js';
import {checkProvisionWith, selectProvisioners, type ProvisionSelection} from '../provisioners/select.js';
import {runMachines, settleMachines, type ConcurrencyOptions} from './lifecycle/run-machines.js';
import {openReadyCommunicator, openMachines, projectMachines, requireRunning, withMachine, type LifecycleOptions, type MachineHandle} from './lifecycle/machines.js';
import {privateAddress} from './lifecycle/private-names.js';
import {runProjectProvisioners, type DeferredProvisioning} from './lifecycle/project-provisioners.js';

export interface ProvisionOptions extends LifecycleOptions, ConcurrencyOptions {
  /** --provision-with: only the provisioners of these names or types (whatever their `run`). */
  provisionWith?: string[];
}

export interface ProvisionResult {
  machines: Array<{name: string; provisioners: number; durationMs: number}>;
  /** Project-wide provisioners (host-side ansible), each run once for the machines listed. */
  projectProvisioners: ProvisionerResult[];
}

/** A machine's provisioning: how many ran in it, and the project-wide ones left for later. */
export interface MachineProvisioning extends DeferredProvisioning {
  ran: number;
}

/**
 * Runs the machine's provisioners that `selection` picks over its communicator, except the
 * project-wide ones, which it returns for the command's project-wide stage. Records the machine
 * as provisioned when this was its full provisioning and nothing is left for later. No lock taken.
 */
export async function provisionMachine(handle: MachineHandle, selection: ProvisionSelection = {reason: 'provision'}): Promise<MachineProvisioning> {
  const {ctx, machine} = handle;
  const chosen = selectProvisioners(machine.provisioners, selection);
  const own = chosen.filter((c) => !isProjectWide(c));
  const configs = chosen.filter((c) => isProjectWide(c));
  const marksProvisioned = selection.reason === 'provision' && !selection.provisionWith;
  if (own.length > 0) {
    ctx.ui.stage('provision', machine.name);
    const ssh = await handle.provider.sshInfo(ctx);
    const privateIp = await privateAddress(handle);
    const comm = await openReadyCommunicator(handle, {info: ssh});
    try {
      await runProvisioners({
        comm, ssh, machine: machine.name, ...(privateIp ? {privateIp} : {}),
        project: {name: ctx.project.name, ...(ctx.project.environment ? {environment: ctx.project.environment} : {})},
        ui: ctx.ui, signal: ctx.signal, projectRoot: path.dirname(ctx.project.boxfilePath), outputPrefix: machine.name,
      }, own);
    } finally {
      await comm.close().catch(() => undefined);
    }
  }
  if (marksProvisioned && configs.length === 0) await updateMachineState(ctx.project.root, machine.name, (s) => { s.provisioned = true; });
  return {ran: own.length, configs, marksProvisioned};
}

/**
 * `box provision`: runs the provisioners again on running machines, at once (`parallel` at
 * most), each after the machines it depends on; then the project-wide ones, once each.
 */
export async function provision(options: ProvisionOptions): Promise<ProvisionResult> {
  const {project, handles} = await openMachines(options);
  if (options.provisionWith) checkProvisionWith(options.provisionWith, handles.flatMap((h) => h.machine.provisioners));
  const selection: ProvisionSelection = {reason: 'provision', ...(options.provisionWith ? {provisionWith: options.provisionWith} : {})};
  const deferred = new Map<string, DeferredProvisioning>();
  const outcomes = await runMachines(handles, {parallel: options.parallel, order: 'dependencies-first', signal: options.signal}, async (handle) => {
    const t0 = Date.now();
    const done = await withMachine(handle, async () => {
      await requireRunning(handle, 'provisioners need it running');
      try {
        return await provisionMachine(handle, selection);
      } catch (error) {
        if (error instanceof BoxError) throw error;
        throw new BoxError('ERR_PROVISION_FAILED', `Provisioning ${handle.machine.name} failed: ${errorMessage(error)}`);
      }
    });
    if (done.configs.length > 0) deferred.set(handle.machine.name, done);
    return {name: handle.machine.name, provisioners: done.ran + done.configs.length, durationMs: Date.now() - t0};
  });
  const {projectProvisioners, stageError} = await runProjectStage(() => runProjectProvisioners(project, projectMachines(options), deferred, options));
  const machines = settleMachines(outcomes, options.signal, (machine) => machine);
  if (stageError) throw withMachines(stageError, machines);
  return {machines, projectProvisioners};
}

/**
 * The project-wide stage runs for the machines that succeeded even when others failed; a
 * machine's failure is reported first (settleMachines), the stage's error after.
 */
export async function runProjectStage(stage: () => Promise<ProvisionerResult[]>): Promise<{projectProvisioners: ProvisionerResult[]; stageError?: unknown}> {
  try {
    return {projectProvisioners: await stage()};
  } catch (error) {
    return {projectProvisioners: [], stageError: error};
  }
}

/** The stage's error, carrying every machine's entry for --json. */
export function withMachines(error: unknown, machines: unknown[]): unknown {
  if (error instanceof BoxError) error.partialResult = {machines};
  return error;
}
