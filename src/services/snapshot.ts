import {randomInt} from 'node:crypto';
import {BoxError, InterruptedError, UsageError} from '../core/errors.js';
import type {SnapshotInfo, SnapshotSupport} from '../providers/provider.js';
import {runMachines, settleMachines, type ConcurrencyOptions, type MachineOutcome} from './lifecycle/run-machines.js';
import {machineStatus, openMachines, withMachine, type LifecycleOptions, type MachineHandle} from './lifecycle/machines.js';
import {closeSharedConnection} from '../communicators/ssh/shared-connection.js';

/** What every `box snapshot` verb takes: the project, the machines (all when none), the I/O. */
export type SnapshotOptions = LifecycleOptions & ConcurrencyOptions;

export interface SnapshotSaveResult {
  snapshot: string;
  machines: Array<{name: string; snapshot: SnapshotInfo; replaced: boolean; durationMs: number}>;
}

export interface SnapshotRestoreResult {
  snapshot: string;
  machines: Array<{name: string; live: boolean; note?: string; durationMs: number}>;
}

export interface SnapshotListResult {
  machines: Array<{name: string; target: string; snapshots: SnapshotInfo[]}>;
}

export interface SnapshotDeleteResult {
  snapshot: string;
  machines: Array<{name: string; deleted: boolean}>;
}

/**
 * Snapshot names become qcow2 tags, EBS tag values and VirtualBox snapshot names: letters,
 * digits, `.`, `_`, `-`. Not all digits: qemu-img looks a snapshot up by its numeric id too.
 */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function checkSnapshotName(name: string): void {
  if (!NAME.test(name) || /^\d+$/.test(name)) {
    throw new UsageError('ERR_SNAPSHOT_NAME', `Invalid snapshot name "${name}": use 1 to 64 letters, digits, ".", "_" or "-", starting with a letter or digit, and not only digits.`, {
      hint: 'For example `box snapshot save before-upgrade`.',
    });
  }
}

/** Names of `box snapshot push`: `push-<ms since 1970>-<random>`, so the newest sorts last. */
const PUSHED = /^push-(\d+)-\d+$/;

export function pushName(now = Date.now()): string {
  return `push-${now}-${randomInt(10_000)}`;
}

/**
 * `box snapshot save NAME`: the same NAME on every selected machine, so a stack goes back
 * together. A NAME a machine has already is an error unless `force` replaces it. Each machine's
 * save runs to its end; after a Ctrl-C the snapshots this save made are deleted again, so an
 * interrupted save leaves no NAME behind (and the list stays true).
 */
export async function snapshotSave(options: SnapshotOptions & {snapshot: string; force: boolean}): Promise<SnapshotSaveResult> {
  checkSnapshotName(options.snapshot);
  const handles = await snapshotHandles(options);
  const made: Array<{handle: MachineHandle; snapshot: SnapshotInfo}> = [];
  const outcomes = await runMachines(handles, {parallel: options.parallel, order: 'dependencies-first', signal: options.signal}, async (handle) => {
    const t0 = Date.now();
    return withMachine(handle, async () => {
      await requireCreated(handle);
      const snapshots = support(handle);
      const existing = (await snapshots.list(handle.ctx)).find((s) => s.name === options.snapshot);
      if (existing && !options.force) {
        throw new UsageError('ERR_SNAPSHOT_EXISTS', `Machine ${handle.machine.name} already has a snapshot named ${options.snapshot} ${existing.createdAt ? ` (taken ${existing.createdAt})` : ''}.`, {
          hint: `Pick another name, or replace it with \`box snapshot save ${options.snapshot} --force\`.`,
        });
      }
      handle.ctx.ui.stage('snapshot-save', `${handle.machine.name}: ${options.snapshot}`);
      if (existing) await snapshots.delete(handle.ctx, existing);
      const snapshot = await snapshots.save(handle.ctx, options.snapshot);
      made.push({handle, snapshot});
      handle.ctx.ui.success(`${handle.machine.name}: saved snapshot ${options.snapshot}${snapshot.withMemory ? ' (disk and memory)' : ' (disk)'}`);
      return {name: handle.machine.name, snapshot, replaced: existing !== undefined, durationMs: Date.now() - t0};
    });
  });
  if (options.signal.aborted) await rollBack(made, options);
  return {snapshot: options.snapshot, machines: settled(outcomes, options)};
}

/** After a Ctrl-C during a save: the snapshots it finished go again (each under its machine's lock). */
async function rollBack(made: Array<{handle: MachineHandle; snapshot: SnapshotInfo}>, options: SnapshotOptions): Promise<void> {
  for (const {handle, snapshot} of made) {
    options.ui.warn(`${handle.machine.name}: interrupted; deleting the snapshot ${snapshot.name} this save made.`);
    try {
      await withMachine(handle, () => support(handle).delete(handle.ctx, snapshot));
    } catch (error) {
      options.ui.warn(`${handle.machine.name}: could not delete snapshot ${snapshot.name}: ${(error as Error).message}. Run \`box snapshot delete ${snapshot.name} ${handle.machine.name}\`.`);
    }
  }
}

/**
 * `box snapshot restore NAME`: every selected machine goes back to NAME. Each machine must have
 * it (checked on all of them before any is touched, so a stack never goes back halfway for a
 * missing name). A restore runs to its end; after a Ctrl-C no further machine starts one.
 */
export async function snapshotRestore(options: SnapshotOptions & {snapshot: string}): Promise<SnapshotRestoreResult> {
  checkSnapshotName(options.snapshot);
  const handles = await snapshotHandles(options);
  const found = new Map<string, SnapshotInfo>();
  for (const handle of handles) found.set(handle.machine.name, await findSnapshot(handle, options.snapshot));
  const outcomes = await runMachines(handles, {parallel: options.parallel, order: 'dependencies-first', signal: options.signal}, async (handle) => {
    const t0 = Date.now();
    return withMachine(handle, async () => {
      // Found again inside the lock: another box process may have deleted it meanwhile.
      const snapshot = await findSnapshot(handle, options.snapshot);
      handle.ctx.ui.stage('snapshot-restore', `${handle.machine.name}: ${options.snapshot}`);
      await closeSharedConnection(handle.ctx.dir);
      const result = await support(handle).restore(handle.ctx, snapshot);
      if (result.note) handle.ctx.ui.info(`${handle.machine.name}: ${result.note}.`);
      handle.ctx.ui.success(`${handle.machine.name}: restored snapshot ${options.snapshot}${result.live ? ' (running, resumed in the saved state)' : ''}`);
      return {name: handle.machine.name, live: result.live, ...(result.note ? {note: result.note} : {}), durationMs: Date.now() - t0};
    });
  });
  return {snapshot: options.snapshot, machines: settled(outcomes, options)};
}

/**
 * The machines' entries, or the failure; a Ctrl-C is reported (exit 130) even when every
 * machine that started finished, since the ones after it never started.
 */
function settled<R>(outcomes: Array<MachineOutcome<R>>, options: SnapshotOptions): R[] {
  const entries = settleMachines(outcomes, options.signal, (entry) => entry);
  if (options.signal.aborted) throw new InterruptedError('Interrupted; the snapshot operations that had started finished first');
  return entries;
}

/** `box snapshot list`: each selected machine's snapshots, oldest first. A machine not created has none. */
export async function snapshotList(options: SnapshotOptions): Promise<SnapshotListResult> {
  const handles = await snapshotHandles(options);
  const machines: SnapshotListResult['machines'] = [];
  for (const handle of handles) {
    const created = (await machineStatus(handle)).status !== 'not-created';
    machines.push({name: handle.machine.name, target: handle.machine.target, snapshots: created ? await support(handle).list(handle.ctx) : []});
  }
  return {machines};
}

/** `box snapshot delete NAME`: from every selected machine; every one must have it (checked first). */
export async function snapshotDelete(options: SnapshotOptions & {snapshot: string}): Promise<SnapshotDeleteResult> {
  checkSnapshotName(options.snapshot);
  const handles = await snapshotHandles(options);
  for (const handle of handles) await findSnapshot(handle, options.snapshot);
  const outcomes = await runMachines(handles, {parallel: options.parallel, order: 'dependents-first', signal: options.signal}, async (handle) => withMachine(handle, async () => {
    const snapshot = await findSnapshot(handle, options.snapshot);
    await support(handle).delete(handle.ctx, snapshot);
    handle.ctx.ui.success(`${handle.machine.name}: deleted snapshot ${options.snapshot}`);
    return {name: handle.machine.name, deleted: true};
  }));
  return {snapshot: options.snapshot, machines: settled(outcomes, options)};
}

/** `box snapshot push`: a save under a generated name (Vagrant's push). */
export async function snapshotPush(options: SnapshotOptions): Promise<SnapshotSaveResult> {
  return snapshotSave({...options, snapshot: pushName(), force: false});
}

/**
 * `box snapshot pop`: restores the newest pushed snapshot, then deletes it unless `keep`
 * (`--no-delete`). The newest is the one every selected machine has; machines pushed apart
 * (one alone, later) are an error naming what each has.
 */
export async function snapshotPop(options: SnapshotOptions & {keep: boolean}): Promise<SnapshotRestoreResult & {deleted: boolean}> {
  const handles = await snapshotHandles(options);
  const newest: Array<{machine: string; name?: string}> = [];
  for (const handle of handles) {
    const pushed = (await support(handle).list(handle.ctx).catch(() => [] as SnapshotInfo[]))
      .flatMap((s) => { const m = PUSHED.exec(s.name); return m ? [{name: s.name, at: Number(m[1])}] : []; })
      .sort((a, b) => a.at - b.at);
    newest.push({machine: handle.machine.name, name: pushed.at(-1)?.name});
  }
  const names = new Set(newest.map((n) => n.name));
  if (names.has(undefined)) {
    const none = newest.filter((n) => n.name === undefined).map((n) => n.machine);
    throw new BoxError('ERR_SNAPSHOT_UNKNOWN', `No pushed snapshot to pop on ${none.join(', ')}.`, {hint: 'Run `box snapshot push` first; `box snapshot list` shows what there is.', exitCode: 2});
  }
  if (names.size > 1) {
    throw new BoxError('ERR_SNAPSHOT_UNKNOWN', `The machines' newest pushed snapshots differ (${newest.map((n) => `${n.machine}: ${n.name}`).join(', ')}); pop them one machine at a time.`, {
      hint: 'Name one machine: `box snapshot pop MACHINE`.', exitCode: 2,
    });
  }
  const snapshot = [...names][0]!;
  const restored = await snapshotRestore({...options, snapshot});
  if (options.keep) return {...restored, deleted: false};
  await snapshotDelete({...options, snapshot});
  return {...restored, deleted: true};
}

/** The selected machines, refused as a whole when one's target has no snapshots (nothing touched). */
async function snapshotHandles(options: SnapshotOptions): Promise<MachineHandle[]> {
  const {handles} = await openMachines(options);
  for (const handle of handles) {
    if (!handle.provider.snapshots) {
      throw new UsageError('ERR_NOT_SUPPORTED', `Snapshots are not supported yet on the ${handle.machine.target} target (machine ${handle.machine.name}).`, {
        hint: 'Name the machines of the other targets: `box snapshot save NAME MACHINE...`.',
      });
    }
  }
  return handles;
}

function support(handle: MachineHandle): SnapshotSupport {
  return handle.provider.snapshots!;
}

async function requireCreated(handle: MachineHandle): Promise<void> {
  const status = await machineStatus(handle, {insideLock: true});
  if (status.status === 'not-created') {
    throw new BoxError('ERR_NOT_CREATED', `Machine ${handle.machine.name} is not created; there is nothing to snapshot.`, {hint: `Run \`box up ${handle.machine.name}\` first.`});
  }
}

/** The machine's snapshot NAME, or ERR_SNAPSHOT_UNKNOWN naming the ones it has. */
async function findSnapshot(handle: MachineHandle, name: string): Promise<SnapshotInfo> {
  await requireCreated(handle);
  const all = await support(handle).list(handle.ctx);
  const found = all.find((s) => s.name === name);
  if (found) return found;
  throw new BoxError('ERR_SNAPSHOT_UNKNOWN', `Machine ${handle.machine.name} has no snapshot named ${name}; it has ${all.length === 0 ? 'none' : all.map((s) => s.name).join(', ')}.`, {
    hint: '`box snapshot list` shows every machine\'s snapshots.', exitCode: 2,
  });
}

/** A verb's `NAME [MACHINE...]`: the snapshot name first, then the machines (all of the project when none). */
export function nameAndMachines(argv: unknown[], verb: string): {snapshot: string; names: string[]} {
  const [snapshot, ...names] = argv.map(String);
  if (!snapshot) throw new UsageError('ERR_SNAPSHOT_NAME', `\`box snapshot ${verb}\` needs a snapshot name.`, {hint: `For example \`box snapshot ${verb} before-upgrade\`.`});
  return {snapshot, names};
}
