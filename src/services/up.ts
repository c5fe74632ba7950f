import {BoxError, errorMessage, isAbortError, throwIfAborted} from '../core/errors.js';
import {readMachineState, updateMachineState, type MachineState} from '../core/state.js';
import {setGuestHostname} from '../providers/shared/guest-ssh.js';
import {createStepsUndone} from '../providers/shared/machine-files.js';
import type {UpTimings} from '../providers/provider.js';
import type {ProvisionerResult} from '../provisioners/run-provisioners.js';
import {checkProvisionWith, selectProvisioners, type ProvisionSelection} from '../provisioners/select.js';
import {rsyncFolders} from '../synced-folders/rsync-folders.js';
import {provisionMachine, runProjectStage, withMachines} from './provision.js';
import {runProjectProvisioners, type DeferredProvisioning} from './lifecycle/project-provisioners.js';
import {clusterMap, runHooks} from './lifecycle/hooks.js';
import {clusterChanged} from './lifecycle/cluster-changed.js';
import {syncFolders, type FolderSyncResult} from './lifecycle/sync-folders.js';
import {waitForCloudInit, type CloudInitOutcome} from './lifecycle/cloud-init.js';
import {runMachines, settleMachines, type ConcurrencyOptions} from './lifecycle/run-machines.js';
import {checkPrivateNetworks, checkSyncedFolderTypes} from './check-target-settings.js';
import {attachCloneSource, parseCloneFrom} from './lifecycle/clone-from.js';
import {guestWaitSeconds, hasMachineFiles, openReadyCommunicator, openMachines, projectMachines, removeMachineDir, withMachine, type LifecycleOptions, type MachineHandle} from './lifecycle/machines.js';
import {closeSharedConnection} from '../communicators/ssh/shared-connection.js';

export interface UpOptions extends LifecycleOptions, ConcurrencyOptions {
  /** true: run provisioners even if they ran before; false: never; undefined: first up only. */
  provision?: boolean;
  /** --provision-with: run only these provisioners (names or types), whatever their `run`, as --provision does. */
  provisionWith?: string[];
  /** Destroy a NEW machine whose up failed (default, as Vagrant); false keeps it for debugging. */
  destroyOnError: boolean;
  /** `--from MACHINE[@SNAPSHOT]`: the one named machine is made from another's disk state. */
  from?: string;
}

export interface UpMachineResult {
  name: string;
  target: string;
  created: boolean;
  /** It was running before this up (so it did not come up now, and fired no configure event). */
  wasRunning: boolean;
  /** It was suspended and continues from its saved state (no boot). */
  resumed?: boolean;
  provisioned: boolean;
  ranProvisioners: boolean;
  status: string;
  ssh?: {host: string; port: number; username: string};
  details?: Record<string, unknown>;
  /** What each rsync folder's copy into the guest did (absent: the machine has none). */
  sync?: FolderSyncResult[];
  /** What cloud-init did in a guest that has it and was booted by this up (`degraded` also warns on stderr). */
  cloudInit?: CloudInitOutcome;
  /** Milliseconds per stage (checks, resolveBox, createDisk, startQemu, waitForSsh, insertKey, sync, provision). */
  timings: UpTimings;
  durationMs: number;
}

export interface UpResult {
  /** Every machine's result; with --json after a failure, the failed ones carry their error. */
  machines: UpMachineResult[];
  /** Project-wide provisioners (host-side ansible), each run once after every machine was up. */
  projectProvisioners: ProvisionerResult[];
}

/**
 * `box up`: creates or starts each machine, waits for SSH, provisions on first up. Machines go
 * up at once (`parallel` at most), each after the machines it depends on.
 */
export async function up(options: UpOptions): Promise<UpResult> {
  const clone = options.from === undefined ? undefined : parseCloneFrom(options.from, options.names);
  const {project, handles} = await openMachines(clone ? {...options, clones: {[clone.name]: clone.machine}} : options);
  if (clone) await attachCloneSource(handles[0]!, clone, options);
  await checkPrivateNetworks(project, handles.map((h) => h.machine));
  if (options.provisionWith) checkProvisionWith(options.provisionWith, handles.flatMap((h) => h.machine.provisioners));
  await checkSyncedFolderTypes(project, handles.map((h) => h.machine));
  const cluster = projectMachines(options);
  const deferred = new Map<string, DeferredProvisioning>();
  const outcomes = await runMachines(handles, {parallel: options.parallel, order: 'dependencies-first', signal: options.signal}, async (handle) => {
    let destroyed = false;
    try {
      return await withMachine(handle, () => upOne(handle, options, cluster, () => { destroyed = true; }, (d) => deferred.set(handle.machine.name, d)));
    } catch (error) {
      // The folder (which holds the lock) can only go once the lock is released.
      if (destroyed || !(await hasMachineFiles(handle.ctx.dir))) await removeMachineDir(handle.ctx.project.root, handle.machine.name).catch(() => undefined);
      throw error;
    }
  });
  const cameUp = outcomes.flatMap((o) => o.ok && !o.value.wasRunning ? [o.handle.machine.name] : []);
  await clusterChanged(project, cluster, {up: cameUp, down: []}, options);
  // After the hosts blocks: a playbook may use the machines' private names.
  const {projectProvisioners, stageError} = await runProjectStage(() => runProjectProvisioners(project, cluster, deferred, options));
  // Their provisioning finished only now: the entries say so.
  const finished = (machine: UpMachineResult) => (!stageError && deferred.get(machine.name)?.marksProvisioned ? {...machine, provisioned: true} : machine);
  const machines = settleMachines(outcomes, options.signal, finished);
  if (stageError) throw withMachines(stageError, machines);
  return {machines, projectProvisioners};
}

/**
 * Which provisioners this up runs on a machine (Vagrant's rules): --no-provision none;
 * --provision-with those named; the first up and --provision all but `run: never`; a later
 * up only `run: always`.
 */
export function upSelection(options: Pick<UpOptions, 'provision' | 'provisionWith'>, provisionedBefore: boolean): ProvisionSelection | undefined {
  if (options.provisionWith) return {reason: 'provision', provisionWith: options.provisionWith};
  if (options.provision === false) return undefined;
  return {reason: options.provision || !provisionedBefore ? 'provision' : 'up'};
}

async function upOne(
  handle: MachineHandle, options: UpOptions, cluster: () => Promise<MachineHandle[]>, onDestroyed: () => void,
  onDeferred: (deferred: DeferredProvisioning) => void,
): Promise<UpMachineResult> {
  const {ctx, machine, provider} = handle;
  const t0 = Date.now();
  ctx.ui.stage('up', `${machine.name} (${machine.target})`);
  await provider.verify(ctx);
  // An unreadable record fails here, with its repair (`box destroy`): never guess over it.
  const recorded = await readMachineState(ctx.project.root, machine.name);
  // A machine whose first up never finished holds nothing of the user's yet. Still running, its
  // provider finishes the job (it lacks the key swap, or the host name); otherwise its first
  // boot may have been cut anywhere (host keys half written...), so it is made again.
  const unfinished = recorded?.upCompleted === false;
  if (unfinished) {
    const vm = await provider.status(ctx);
    if (vm.status !== 'running') {
      ctx.ui.info(`${machine.name}: its first \`box up\` did not finish (${vm.reason ?? `the guest is ${vm.status}`}); creating it again (nothing of yours is on it yet).`);
      ctx.ui.stage('destroy', machine.name);
      await provider.destroy(ctx);
    }
  }
  const existed = recorded !== undefined && !unfinished;
  const wasRunning = existed && (await provider.status(ctx)).status === 'running';
  // A master left from an earlier boot (its guest went away without box) must not be joined.
  if (!wasRunning) await closeSharedConnection(ctx.dir);
  let ranProvisioners = false;
  try {
    const {created, resumed = false, cloudInitAbsent = false, timings = {}} = await provider.up({...ctx, keepOnError: !options.destroyOnError});
    // A resumed guest did not boot: cloud-init has nothing new to finish; nor has a guest that
    // said at boot it has no cloud-init.
    const booted = !wasRunning && !resumed;
    const cloudInit = await afterBoot(handle, {cloudInitPossible: booted && !cloudInitAbsent, cloudInitMatters: cloudInitMatters(handle, options, created, recorded)}, timings);
    if ((await readMachineState(ctx.project.root, machine.name))?.upCompleted === false) {
      await updateMachineState(ctx.project.root, machine.name, (s) => { s.upCompleted = true; });
    }
    // Synced folders are copied on every up (as Vagrant does on up and reload), before the
    // provisioners, which may need them.
    const s0 = Date.now();
    const synced = await syncFolders(handle);
    if (synced.length > 0) timings.sync = Date.now() - s0;
    const state = await readMachineState(ctx.project.root, machine.name);
    const selection = upSelection(options, state?.provisioned ?? false);
    if (selection) {
      const p0 = Date.now();
      const done = await provisionMachine(handle, selection);
      if (done.configs.length > 0) onDeferred(done);
      if (done.ran > 0) timings.provision = Date.now() - p0;
      ranProvisioners = done.ran > 0 || done.configs.length > 0;
    }
    // The setup event: once, after the first up (and its provisioners) succeeded; a failed
    // setup is a failed first up. (Records older than hooks have no setupDone: never set up.)
    if (created) await updateMachineState(ctx.project.root, machine.name, (s) => { s.setupDone = false; });
    if ((await readMachineState(ctx.project.root, machine.name))?.setupDone === false) {
      if (handle.machine.hooks?.setup?.length) await runHooks(handle, 'setup', await clusterMap(await cluster(), 'setup'));
      await updateMachineState(ctx.project.root, machine.name, (s) => { s.setupDone = true; });
    }
    const status = await provider.status(ctx);
    const info = await provider.sshInfo(ctx);
    const after = await readMachineState(ctx.project.root, machine.name);
    ctx.ui.success(`${machine.name} is ${status.status} (ssh ${info.host}:${info.port}) in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return {
      name: machine.name, target: machine.target, created, wasRunning, ...(resumed ? {resumed} : {}), provisioned: after?.provisioned ?? false, ranProvisioners,
      status: status.status, ssh: {host: info.host, port: info.port, username: info.username}, details: status.details,
      ...(synced.length > 0 ? {sync: synced} : {}), ...(cloudInit && cloudInit.status !== 'absent' ? {cloudInit} : {}), timings, durationMs: Date.now() - t0,
    };
  } catch (error) {
    // Vagrant's rule: a failed or interrupted up of a NEW machine removes what it made. What
    // the provider's create steps made, they undo themselves (one recovery layer); this destroys
    // only what is left after the provider's up returned (host name, provisioning) or what a
    // provider without create steps left.
    const what = isAbortError(error) ? 'Interrupted' : 'Failed';
    const leftovers = await hasMachineFiles(ctx.dir);
    if (!existed && !leftovers) {
      // The provider's own cleanup already removed what this up had made (and its record).
      ctx.ui.warn(`${what}: the new machine ${machine.name} was removed; nothing of it is left.`);
    } else if (!existed && createStepsUndone(error)) {
      // A cleanup of the create steps failed; they said what stays recorded and how to remove it.
    } else if (!existed && options.destroyOnError) {
      ctx.ui.warn(`${what}: destroying the new machine ${machine.name} (keep it with --no-destroy-on-error).`);
      try {
        await provider.destroy(ctx);
        onDestroyed();
      } catch (cleanupError) {
        ctx.ui.warn(`could not destroy ${machine.name}: ${errorMessage(cleanupError)}; run \`box destroy ${machine.name}\`.`);
      }
    } else if (!existed) {
      ctx.ui.warn(`${what}: the new machine ${machine.name} is kept as the failed up left it (--no-destroy-on-error); \`box destroy ${machine.name}\` removes it.`);
    } else if (!(error instanceof BoxError) || error.code !== 'ERR_PORT_COLLISION') {
      ctx.ui.warn(`${machine.name} was left as it is; see \`box status ${machine.name}\`.`);
    }
    throw error;
  }
}

/**
 * Whether an up that booted a guest waits for its cloud-init: when the Boxfile hands cloud-init
 * something, at a machine's first boot (cloud-init's once-per-instance work: keys, growing the
 * disk), and before box itself uses the guest in this up (synced folders, provisioners, setup
 * hooks), which may need what cloud-init does. A plain restart returns once SSH answers, as
 * Vagrant's does: the wait is one more SSH session, seconds under software emulation.
 */
function cloudInitMatters(handle: MachineHandle, options: UpOptions, created: boolean, recorded: MachineState | undefined): boolean {
  const {machine} = handle;
  if (machine.cloudInit !== undefined || created) return true;
  if (rsyncFolders(machine.syncedFolders).length > 0) return true;
  const selection = upSelection(options, recorded?.provisioned ?? false);
  if (selection && selectProvisioners(machine.provisioners, selection).length > 0) return true;
  return recorded?.setupDone === false && (machine.hooks?.setup?.length ?? 0) > 0;
}

/**
 * One SSH session after the provider's up, only when there is something to do: on a guest this
 * up booted, wait for cloud-init when it matters (cloudInitMatters) (when the guest has it: one `command -v` otherwise), before
 * the host name, synced folders and provisioners; then the Boxfile's `hostname`, set when it
 * differs from what box last set there (providers that swap the insecure key set it in the
 * same round and record it). Over the provider's communicator, so it works on every target.
 */
async function afterBoot(handle: MachineHandle, boot: {cloudInitPossible: boolean; cloudInitMatters: boolean}, timings: UpTimings): Promise<CloudInitOutcome | undefined> {
  const {ctx, machine} = handle;
  const wanted = machine.hostname;
  const setHostname = wanted !== undefined && (await readMachineState(ctx.project.root, machine.name))?.hostname !== wanted;
  // cloud-init sets the host name too: never race it (and the session is open anyway).
  const waitCloudInit = boot.cloudInitPossible && (boot.cloudInitMatters || setHostname);
  if (!waitCloudInit && !setHostname) return undefined;
  throwIfAborted(ctx.signal);
  const comm = await openReadyCommunicator(handle);
  try {
    let cloudInit: CloudInitOutcome | undefined;
    if (waitCloudInit) {
      const t0 = Date.now();
      cloudInit = await waitForCloudInit(comm, {machine: machine.name, timeoutSeconds: guestWaitSeconds(machine), signal: ctx.signal});
      if (cloudInit.status !== 'absent') timings.cloudInit = Date.now() - t0;
      if (cloudInit.status === 'degraded') ctx.ui.warn(`${machine.name}: cloud-init finished with recoverable errors:\n${cloudInit.detail ?? ''}`);
    }
    if (setHostname) {
      const t0 = Date.now();
      ctx.ui.stage('hostname', wanted);
      await setGuestHostname(comm, wanted, ctx.signal);
      await updateMachineState(ctx.project.root, machine.name, (s) => { s.hostname = wanted; });
      timings.hostname = Date.now() - t0;
    }
    return cloudInit;
  } finally {
    await comm.close().catch(() => undefined);
  }
}
