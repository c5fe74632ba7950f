import {readFile, readlink, rename, rm, stat} from 'node:fs/promises';
import path from 'node:path';
import {BoxError, InterruptedError} from '../../core/errors.js';
import {shellQuote} from '../../communicators/ssh/remote-command.js';
import {pidAlive, waitForExit} from '../../core/processes.js';
import {QmpClient, qmpOnce} from './qmp.js';
import type {MachineContext, SshInfo, SuspendOutcome} from '../provider.js';
import {refuseUnsavableGuest} from './unsavable-guest.js';

/**
 * Suspend to a file, the way libvirt's `managedsave` does it: pause the guest, stream its RAM
 * and device state into a file with QMP `migrate`, stop QEMU. Resuming starts QEMU with the
 * SAME device arguments plus `-incoming` reading that file, so the guest continues where it was:
 * no firmware, no kernel, no systemd, its processes alive. QEMU 7.2 has no `file:` migration
 * URI; `exec:` runs a shell command that writes (or reads) the stream.
 */

/** The saved state in the machine folder (removed once a resume succeeded, and by `destroy`). */
export const suspendStateFile = 'suspend.state';

/** What the machine's record keeps while it is suspended (`state.provider.suspended`). */
export interface SuspendedRecord {
  /** Absolute path of the saved state. */
  file: string;
  at: string;
  bytes: number;
  /** The QEMU arguments the state was saved from, with the SSH host port written as SSH_PORT. */
  launch: string[];
  /** The QEMU binary and box image it ran: a state loads only into the same devices and base. */
  binary: FileIdentity;
  baseImage: FileIdentity;
}

export interface FileIdentity {
  path: string;
  size: number;
  mtimeMs: number;
}

export async function fileIdentity(file: string): Promise<FileIdentity> {
  const s = await stat(file);
  return {path: file, size: s.size, mtimeMs: Math.round(s.mtimeMs)};
}

export function outgoingUri(file: string): string {
  return `exec:cat > ${shellQuote(file)}`;
}

export function incomingUri(file: string): string {
  return `exec:cat ${shellQuote(file)}`;
}

/**
 * A launch as it is compared across a suspend: the SSH host port may differ (it is host-side
 * only, the guest never sees it) and `-incoming` is how, not what, QEMU starts.
 */
export function comparableLaunch(args: readonly string[], sshPort: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '-incoming') { i++; continue; }
    out.push(args[i].replace(`hostfwd=tcp:127.0.0.1:${sshPort}-:`, 'hostfwd=tcp:127.0.0.1:SSH_PORT-:'));
  }
  return out;
}

/** The argv of a running process (/proc/PID/cmdline) and the binary it runs. */
export async function processLaunch(pid: number): Promise<{args: string[]; binary: string}> {
  const raw = await readFile(`/proc/${pid}/cmdline`, 'utf8');
  const argv = raw.split('\0');
  if (argv.at(-1) === '') argv.pop();
  return {args: argv.slice(1), binary: await readlink(`/proc/${pid}/exe`)};
}

/**
 * Why a saved state cannot be resumed by this launch (undefined: it can). Devices, memory,
 * machine type and accelerator must match exactly or QEMU refuses the stream half-way.
 */
export function resumeMismatch(saved: SuspendedRecord, now: {launch: string[]; binary: FileIdentity; baseImage: FileIdentity}): string | undefined {
  const same = (a: FileIdentity, b: FileIdentity) => a.path === b.path && a.size === b.size && a.mtimeMs === b.mtimeMs;
  if (!same(saved.binary, now.binary)) return `the QEMU binary changed since the suspend (${saved.binary.path} then, ${now.binary.path} now)`;
  if (!same(saved.baseImage, now.baseImage)) return `the box image ${now.baseImage.path} changed since the suspend`;
  const a = saved.launch.join('\0');
  const b = now.launch.join('\0');
  if (a === b) return undefined;
  const differing = now.launch.find((arg, i) => arg !== saved.launch[i]) ?? saved.launch.find((arg, i) => arg !== now.launch[i]);
  return `its QEMU arguments changed since the suspend (the Boxfile's memory, cpus, networks, folders or accelerator?): first difference at "${differing}"`;
}

/** The files a migration of `dir` writes: the final state and its temporary name. */
export function suspendFiles(dir: string): {state: string; partial: string} {
  const state = path.join(dir, suspendStateFile);
  return {state, partial: `${state}.partial`};
}

/**
 * Pauses the guest and saves its state to `file` through QMP. On Ctrl-C (`signal`) before the
 * stream finished, the migration is cancelled, the guest continues and the partial file goes:
 * the machine runs as before. Once the stream completed, QEMU holds a paused guest whose state
 * is on disk; the caller records it and quits QEMU (a second or so: not cancellable).
 */
export async function saveGuestState(qmpSocket: string, file: string, signal: AbortSignal, options: {pollMs?: number} = {}): Promise<{bytes: number; durationMs: number}> {
  const t0 = Date.now();
  const partial = `${file}.partial`;
  const qmp = await QmpClient.connect(qmpSocket, 10_000);
  let paused = false;
  try {
    // A paused guest dirties nothing: one pass, a consistent state, no convergence worries.
    await qmp.execute('stop');
    paused = true;
    // The default bandwidth cap (32 MiB/s in 7.2) is meant for networks; this is a local file.
    await qmp.execute('migrate-set-parameters', {'max-bandwidth': 8 * 1024 ** 3});
    await qmp.execute('migrate', {uri: outgoingUri(partial)});
    for (;;) {
      const info = await qmp.execute<{status: string; 'error-desc'?: string}>('query-migrate');
      if (info.status === 'completed') break;
      if (info.status === 'failed' || info.status === 'cancelled') {
        throw new BoxError('ERR_SUSPEND_FAILED', `QEMU could not save the guest's state: ${info['error-desc'] ?? info.status}.`, {hint: 'The machine keeps running; look at free space in the machine folder.'});
      }
      if (signal.aborted) {
        await qmp.execute('migrate_cancel');
        await waitForMigration(qmp, ['cancelled', 'failed', 'completed']);
        throw new InterruptedError('Interrupted: the suspend was cancelled; the machine keeps running.');
      }
      await new Promise((r) => setTimeout(r, options.pollMs ?? 100));
    }
    await rename(partial, file);
    paused = false;
    return {bytes: (await stat(file)).size, durationMs: Date.now() - t0};
  } catch (error) {
    await rm(partial, {force: true});
    // Whatever happened, a guest this function paused runs again (a cancel that raced a
    // completed stream leaves it paused in "postmigrate", which `cont` also resumes).
    if (paused) await qmp.execute('cont').catch(() => undefined);
    throw error;
  } finally {
    qmp.close();
  }
}

/** Bounded: a stream stuck in a write that never returns must not hang the CLI (the guest is `cont`inued anyway). */
async function waitForMigration(qmp: QmpClient, ends: string[], timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const {status} = await qmp.execute<{status: string}>('query-migrate');
    if (ends.includes(status) || Date.now() > deadline) return status;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Feeds the saved state to a QEMU started with `-incoming defer` and waits until the guest runs.
 * The state was saved from a paused guest, and QEMU keeps the source's run state: once the
 * stream is loaded the guest is `paused`, and `cont` starts it. QEMU exits when the stream does
 * not fit its devices: that is ERR_RESUME_FAILED, the file kept.
 */
export async function loadGuestState(qmpSocket: string, pid: number, file: string, machine: string, timeoutMs: number, signal: AbortSignal): Promise<void> {
  await qmpOnce(qmpSocket, 'migrate-incoming', {uri: incomingUri(file)}, 10_000);
  const deadline = Date.now() + timeoutMs;
  const failed = (why: string) => new BoxError('ERR_RESUME_FAILED', `${machine} could not be resumed: ${why}. Its saved state is kept at ${file}.`, {
    hint: `\`box halt --force ${machine}\` discards the saved state (the processes in it are lost); the next \`box up\` then boots it afresh.`,
  });
  for (;;) {
    if (!pidAlive(pid)) throw failed('QEMU exited while loading the saved state (it does not fit this QEMU or these devices)');
    const status = await queryStatus(qmpSocket);
    if (status === 'running') return;
    if (status === 'paused') {
      const migration = await qmpOnce<{status: string; 'error-desc'?: string}>(qmpSocket, 'query-migrate', undefined, 2000).catch(() => undefined);
      if (migration?.status === 'failed') throw failed(`QEMU could not load it${migration['error-desc'] ? ` (${migration['error-desc']})` : ''}`);
      if (migration?.status === 'completed') {
        await qmpOnce(qmpSocket, 'cont', undefined, 5000);
        continue;
      }
    }
    if (status !== undefined && !['inmigrate', 'prelaunch', 'paused', 'restore-vm'].includes(status)) throw failed(`QEMU reports the guest as "${status}"`);
    if (Date.now() > deadline) throw failed(`QEMU did not finish loading it within ${Math.round(timeoutMs / 1000)} s`);
    if (signal.aborted) throw new InterruptedError();
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function queryStatus(qmpSocket: string): Promise<string | undefined> {
  return qmpOnce<{status: string}>(qmpSocket, 'query-status', undefined, 2000).then((r) => r.status, () => undefined);
}

/** `box suspend` of a machine QEMU cannot save (live shared folders, an NVMe disk): refused before anything is touched. */
export function refuseUnsavable(machine: string, folders: ReadonlyArray<{type: string; destination?: string}>, diskBus?: string): void {
  refuseUnsavableGuest(machine, {folders, diskBus}, {code: 'ERR_SUSPEND_UNSUPPORTED', cannot: 'cannot be suspended', hint: 'Use `type: rsync` for shared folders to suspend this machine, or `box halt` it.'});
}

/** What `suspendQemu` needs of the provider: the record, the live QEMU, the machine's files. */
export interface SuspendTarget {
  q?: {sshPort?: number; baseImage: string; sharedFolders?: ReadonlyArray<{type: string; destination?: string}>; hardware?: {diskBus?: string}; suspended?: SuspendedRecord};
  pid?: number;
  files: {qmpSocket: string; pidFile: string};
}

type PatchRecord = (change: (q: {pid?: number; suspended?: SuspendedRecord; virtiofsdPids?: number[]}) => void) => Promise<void>;

/**
 * `box suspend` of a qemu machine: refuses (nothing changed) a machine QEMU cannot save or one not
 * running; saves the state; records it; quits QEMU. The record is written before QEMU goes, so
 * a crash in that last second leaves a machine whose state is on disk and recorded.
 */
export async function suspendQemu(ctx: MachineContext, target: SuspendTarget, patch: PatchRecord): Promise<SuspendOutcome> {
  const {machine, dir, signal} = ctx;
  refuseUnsavable(machine.name, [...machine.syncedFolders, ...(target.q?.sharedFolders ?? [])], target.q?.hardware?.diskBus);
  const {q, pid, files} = target;
  if (!q || pid === undefined || q.sshPort === undefined) {
    throw new BoxError('ERR_NOT_RUNNING', `${machine.name} is not running${q?.suspended ? ' (it is suspended already)' : ''}; only a running machine can be suspended.`, {hint: `Run \`box up ${machine.name}\` first.`});
  }
  const t0 = Date.now();
  // What the state must be loaded into, taken from the process itself (its exact argv and binary).
  const running = await processLaunch(pid);
  const identity = {launch: comparableLaunch(running.args, q.sshPort), binary: await fileIdentity(running.binary), baseImage: await fileIdentity(q.baseImage)};
  const {state: file} = suspendFiles(dir);
  ctx.ui.stage('save-state', `${machine.name}: guest RAM and devices to ${path.basename(file)}`);
  const saved = await saveGuestState(files.qmpSocket, file, signal);
  await patch((r) => { r.suspended = {file, at: new Date().toISOString(), bytes: saved.bytes, ...identity}; });
  const t1 = Date.now();
  ctx.ui.stage('stop-qemu', machine.name);
  await qmpOnce(files.qmpSocket, 'quit', undefined, 3000).catch(() => undefined);
  if (!(await waitForExit(pid, 10_000))) {
    process.kill(pid, 'SIGKILL');
    await waitForExit(pid, 5000);
  }
  await rm(files.pidFile, {force: true});
  await rm(files.qmpSocket, {force: true});
  await patch((r) => { r.pid = undefined; r.virtiofsdPids = undefined; });
  return {method: 'qemu-migrate', stateBytes: saved.bytes, timings: {saveState: saved.durationMs, stopQemu: Date.now() - t1, total: Date.now() - t0}};
}

/**
 * The resume half, run right after QEMU started with `-incoming defer`: checks that this QEMU
 * (binary, arguments, box image) is the one the state was saved from, then feeds it the file
 * and waits for the guest to run. A mismatch or failure stops that QEMU and keeps the file.
 */
export async function resumeFromState(
  ctx: MachineContext,
  r: {pid: number; args: string[]; sshPort: number; baseImage: string; saved: SuspendedRecord; qmpSocket: string; pidFile: string},
  patch: PatchRecord,
): Promise<void> {
  const {machine} = ctx;
  const stop = async () => {
    if (pidAlive(r.pid)) { process.kill(r.pid, 'SIGKILL'); await waitForExit(r.pid, 5000); }
    await rm(r.pidFile, {force: true});
    await rm(r.qmpSocket, {force: true});
    await patch((q) => { q.pid = undefined; });
  };
  try {
    const running = await processLaunch(r.pid);
    const why = resumeMismatch(r.saved, {launch: comparableLaunch(r.args, r.sshPort), binary: await fileIdentity(running.binary), baseImage: await fileIdentity(r.baseImage)});
    if (why) {
      throw new BoxError('ERR_RESUME_MISMATCH', `${machine.name} cannot be resumed: ${why}. Its saved state is kept at ${r.saved.file}; nothing else was changed.`, {
        hint: `Undo the change and run \`box up ${machine.name}\` again, or discard the saved state with \`box halt --force ${machine.name}\` (the processes in it are lost) and \`box up\` boots it afresh.`,
      });
    }
    ctx.ui.stage('load-state', `${machine.name}: ${path.basename(r.saved.file)}`);
    await loadGuestState(r.qmpSocket, r.pid, r.saved.file, machine.name, Math.max(60_000, machine.ssh.timeoutSeconds * 1000), ctx.signal);
  } catch (error) {
    await stop();
    throw error;
  }
  // The guest runs from here on: its old state is history.
  await patch((q) => { q.suspended = undefined; });
  await rm(r.saved.file, {force: true});
}

/**
 * A resumed guest's clock stands where the suspend left it. Set it from the host over SSH (as
 * `vagrant resume` leaves to the guest's NTP, which a TCG guest may lack). A failure only warns:
 * the guest runs, and NTP, if any, catches up.
 */
export async function syncGuestClock(ctx: MachineContext, info: SshInfo): Promise<void> {
  const {createCommunicator} = await import('../../communicators/ssh/connect.js');
  const comm = await createCommunicator(info);
  try {
    const code = await comm.exec(`date -u -s @${Math.round(Date.now() / 1000)} >/dev/null`, {sudo: true, timeoutMs: 20_000, signal: ctx.signal});
    if (code !== 0) ctx.ui.warn(`${ctx.machine.name}: could not set the guest's clock after the resume (date exited ${code}); it is behind by the time it was suspended.`);
  } finally {
    await comm.close().catch(() => undefined);
  }
}
