import {readdir, rm, rmdir} from 'node:fs/promises';
import path from 'node:path';
import type {MachineConfig, Project} from '../../boxfile/project.js';
import {targetAlias, type TargetInput} from '../../boxfile/schema.js';
import {machineDir, machineFiles, projectStateDir} from '../../core/paths.js';
import {BoxError, UsageError} from '../../core/errors.js';
import {isStateCorrupt, LOCK_WAIT_MS, machineLockHeld, readMachineState, withMachineLock} from '../../core/state.js';
import type {Ui} from '../../core/ui.js';
import type {MachineContext, Provider, StatusReport} from '../../providers/provider.js';
import {providerFor} from '../../providers/registry.js';
import {instanceOfRoot} from '../../boxfile/instance.js';
import {loadProject, selectMachines} from '../../boxfile/load.js';
import type {Communicator, SshInfo} from '../../communicators/communicator.js';
import {createCommunicator} from '../../communicators/ssh/connect.js';

/** What every lifecycle service takes: where the project is, which machines, and the I/O. */
export interface LifecycleOptions {
  cwd: string;
  boxfile?: string;
  env?: string;
  /** An instance of the project (--instance, `box ci`): see boxfile/instance.ts. */
  instance?: string;
  target?: TargetInput;
  /** Machine names; all machines of the project when empty. */
  names: string[];
  ui: Ui;
  signal: AbortSignal;
  /** A clone being made by this command (NAME → SOURCE), listed even if the Boxfile does not declare it. */
  clones?: Record<string, string>;
}

export interface MachineHandle {
  machine: MachineConfig;
  provider: Provider;
  ctx: MachineContext;
}

/** Loads the project and pairs each selected machine with its provider and context. */
export async function openMachines(options: LifecycleOptions): Promise<{project: Project; handles: MachineHandle[]}> {
  const project = await loadProject({cwd: options.cwd, boxfile: options.boxfile, env: options.env, instance: options.instance, target: options.target, signal: options.signal, clones: options.clones});
  const machines = selectMachines(project, options.names);
  const handles: MachineHandle[] = [];
  for (const selected of machines) {
    const {project: machineProject, machine} = await onRecordedTarget(project, selected, options);
    if (machine.targetAlias) options.ui.info(`${machine.name}: target ${machine.targetAlias} is box's ${machine.target} target (${targetAlias(machine.targetAlias)?.note}).`);
    handles.push({
      machine,
      provider: await providerFor(machine.target),
      ctx: {project: machineProject, machine, dir: machineDir(project.root, machine.name), ui: options.ui, signal: options.signal},
    });
  }
  return {project, handles};
}

/**
 * Every machine of the project (not only those the command works on), loaded on first call:
 * hooks need the whole cluster, and most commands never ask.
 */
export function projectMachines(options: LifecycleOptions): () => Promise<MachineHandle[]> {
  let all: Promise<MachineHandle[]> | undefined;
  return () => {
    all ??= openMachines({...options, names: []}).then(({handles}) => handles);
    return all;
  };
}

/**
 * A machine that exists stays on the target it was created on: after `box up --target aws` in a
 * `target: qemu` project, a plain `box halt` or `box destroy` must still reach the EC2 instance,
 * never drop its state and leave it running. Its settings are resolved again for that target.
 */
async function onRecordedTarget(project: Project, machine: MachineConfig, options: LifecycleOptions): Promise<{project: Project; machine: MachineConfig}> {
  // An unreadable record names no target: the Boxfile's provider reports it (and destroys it).
  const recorded = (await readMachineState(project.root, machine.name).catch((error: unknown) => {
    if (isStateCorrupt(error)) return undefined;
    throw error;
  }))?.target;
  if (!recorded || recorded === machine.target) return {project, machine};
  if (options.target) {
    throw new UsageError('ERR_TARGET_MISMATCH', `Machine ${machine.name} exists on the ${recorded} target; --target ${options.target} cannot move it.`, {
      hint: `Drop --target to work with it on ${recorded}, or run \`box destroy ${machine.name}\` first to create it again on ${options.target}.`,
    });
  }
  const reloaded = await loadProject({cwd: options.cwd, boxfile: options.boxfile, env: options.env, instance: options.instance, target: recorded as TargetInput, signal: options.signal, clones: options.clones});
  options.ui.info(`${machine.name}: using the ${recorded} target it was created on (the Boxfile says ${machine.target}).`);
  return {project: reloaded, machine: selectMachines(reloaded, [machine.name])[0]!};
}

/**
 * The machine's status as every command sees it: the provider's view of the VM, plus what only
 * the record knows. A machine whose first `up` never finished (interrupted for good: a second
 * Ctrl-C, kill -9) is broken, whatever its VM does, and `box up` is its repair (it finishes a
 * running one, and creates a stopped one again); unless a box process works on it right now
 * (its lock is held: `insideLock` says the caller holds it itself). An unreadable record is
 * broken too, repaired by `box destroy`.
 */
export async function machineStatus(handle: MachineHandle, options: {insideLock?: boolean} = {}): Promise<StatusReport> {
  const {ctx, machine, provider} = handle;
  const unreadable = (error: unknown): StatusReport => {
    if (!isStateCorrupt(error)) throw error;
    return {status: 'broken', reason: `its record ${error.file} is unreadable (${error.problem})`, repair: `box destroy ${machine.name}`, details: {stateFile: error.file}};
  };
  let report: StatusReport;
  let upCompleted: boolean | undefined;
  try {
    report = await provider.status(ctx);
  } catch (error) {
    return unreadable(error);
  }
  try {
    upCompleted = (await readMachineState(ctx.project.root, machine.name))?.upCompleted;
  } catch (error) {
    // The provider may have said more (the qemu provider finds its QEMU without the record).
    return report.status === 'broken' ? report : unreadable(error);
  }
  if (upCompleted !== false || (report.status !== 'running' && report.status !== 'stopped')) return report;
  if (!options.insideLock && await machineLockHeld(ctx.project.root, machine.name)) {
    return {...report, details: {...report.details, firstUp: 'in progress'}};
  }
  return {
    status: 'broken',
    reason: report.status === 'running'
      ? 'its first `box up` did not finish: the guest runs, but box has not made it ready (unless the guest took its key at boot, the insecure key may still open it)'
      : 'its first `box up` did not finish, and the guest was stopped before it was ready',
    repair: `box up ${machine.name}`,
    details: {...report.details, firstUp: 'unfinished', vm: report.status},
  };
}

/** Fails with ERR_NOT_RUNNING (and the repair) unless the machine runs; `needs`: "provisioners need it running". Inside its lock. */
export async function requireRunning(handle: MachineHandle, needs: string): Promise<void> {
  const status = await machineStatus(handle, {insideLock: true});
  if (status.status === 'running') return;
  throw new BoxError('ERR_NOT_RUNNING', `Machine ${handle.machine.name} is ${status.status}; ${needs}.`, {
    hint: status.repair ? `Run \`${status.repair}\`.` : `Run \`box up ${handle.machine.name}\` first.`,
  });
}

/**
 * Fails with ERR_MACHINE_SUSPENDED when the machine is suspended and `needs` (e.g. "box package
 * needs it running or halted") cannot work on a saved state: `box up` resumes it, `box halt
 * --force` discards the state. Inside its lock.
 */
export async function refuseSuspended(handle: MachineHandle, needs: string): Promise<void> {
  const status = await machineStatus(handle, {insideLock: true});
  if (status.status !== 'suspended') return;
  const name = handle.machine.name;
  throw new BoxError('ERR_MACHINE_SUSPENDED', `Machine ${name} is suspended; ${needs}.`, {
    hint: `Run \`box up ${name}\` (resumes it) or \`box halt --force ${name}\` (discards its saved state) first.`,
  });
}

/** Runs one lifecycle operation under the machine's lock. */
export async function withMachine<T>(handle: MachineHandle, fn: () => Promise<T>): Promise<T> {
  try {
    return await withMachineLock(handle.ctx.project.root, handle.machine.name, {waitMs: LOCK_WAIT_MS}, fn);
  } finally {
    // Taking the lock creates the machine folder; do not leave it behind for a machine that has nothing.
    if (!(await hasMachineFiles(handle.ctx.dir))) await removeMachineDir(handle.ctx.project.root, handle.machine.name, {onlyIfEmpty: true});
  }
}

/** After destroy: the machine folder (holding only the released lock) and empty parents go. */
export async function removeMachineDir(projectRoot: string, machine: string, options: {onlyIfEmpty?: boolean} = {}): Promise<void> {
  // onlyIfEmpty: never pull a lock folder from under another box process.
  if (options.onlyIfEmpty) await rmdir(machineDir(projectRoot, machine)).catch(() => undefined);
  else await rm(machineDir(projectRoot, machine), {recursive: true, force: true});
  const machinesDir = path.join(projectStateDir(projectRoot), 'machines');
  await rmdir(machinesDir).catch(() => undefined);
  await rmdir(projectStateDir(projectRoot)).catch(() => undefined);
  // An instance (box ci) lives in <folder>/.box/instances/<id>: with its last machine, all of it goes.
  const instance = instanceOfRoot(projectRoot);
  if (instance) {
    await rmdir(projectRoot).catch(() => undefined);
    await rmdir(path.dirname(projectRoot)).catch(() => undefined);
    await rmdir(projectStateDir(instance.folder)).catch(() => undefined);
  }
}

/** Does the machine folder hold anything but the lock (which withMachineLock creates)? */
export async function hasMachineFiles(dir: string): Promise<boolean> {
  const entries = await readdir(dir).catch(() => [] as string[]);
  return entries.some((e) => e !== `${machineFiles.lock}.lock`);
}

/**
 * How box reaches a machine's guest: the provider's own way when it has one, else SSH to its
 * sshInfo (`info`, when the caller already asked the provider for it).
 */
export async function openCommunicator(handle: MachineHandle, info?: SshInfo): Promise<Communicator> {
  const ssh = info ?? await handle.provider.sshInfo(handle.ctx);
  return handle.provider.communicator ? handle.provider.communicator(handle.ctx, ssh) : createCommunicator(ssh);
}

/**
 * How long box waits on a guest that should answer: its `ssh.timeout`, at least 30 s (a guest
 * that just booted may still be starting sshd or finishing cloud-init).
 */
export function guestWaitSeconds(machine: MachineConfig): number {
  return Math.max(30, machine.ssh.timeoutSeconds);
}

/** The machine's communicator once the guest answers (guestWaitSeconds); closed again if it never does. */
export async function openReadyCommunicator(handle: MachineHandle, options: {signal?: AbortSignal; info?: SshInfo} = {}): Promise<Communicator> {
  const comm = await openCommunicator(handle, options.info);
  try {
    await comm.waitForReady(guestWaitSeconds(handle.machine) * 1000, options.signal ?? handle.ctx.signal);
    return comm;
  } catch (error) {
    await comm.close().catch(() => undefined);
    throw error;
  }
}
