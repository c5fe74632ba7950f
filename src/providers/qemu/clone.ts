import path from 'node:path';
import {UsageError} from '../../core/errors.js';
import {run} from '../../core/exec.js';
import {LOCK_WAIT_MS, readMachineState, withMachineLock, type MachineState} from '../../core/state.js';
import type {CloneSource} from '../provider.js';
import {CLONE_SOURCE_KEY_FILE, copySourceKey, unknownCloneSnapshot, type CloneOrigin} from '../shared/clone-guest.js';
import type {QemuMachineState} from './qemu-provider.js';

const hint = 'Install QEMU\'s tools (Debian/Ubuntu: `apt-get install qemu-utils`) and check the source disk with `qemu-img check`.';

/** File names of a clone in its machine folder. */
export const cloneFiles = {
  /** The source's disk state over the box image: only the source's delta, its backing is box.img. */
  base: 'clone-base.qcow2',
  sourceKey: CLONE_SOURCE_KEY_FILE,
} as const;

/** What a clone records under `state.provider.clone`. */
export interface QemuCloneRecord extends CloneOrigin {
  snapshot?: string;
  /** The clone's own base (clone-base.qcow2), between its overlay and the box image. */
  base: string;
}

/** The source machine's record, checked to be a qemu machine with a disk. */
export async function readCloneSource(projectRoot: string, source: CloneSource): Promise<{state: MachineState; q: QemuMachineState; disk: string}> {
  const state = await readMachineState(projectRoot, source.machine);
  if (!state) throw new UsageError('ERR_CLONE_SOURCE', `Machine ${source.machine} is not created: there is no disk to clone.`, {hint: `Run \`box up ${source.machine}\` first.`});
  if (state.target !== 'qemu') throw new UsageError('ERR_CLONE_SOURCE', `Machine ${source.machine} is on the ${state.target} target: --from is not supported yet on ${state.target}.`);
  const q = state.provider as unknown as QemuMachineState;
  return {state, q, disk: path.join(source.dir, path.basename(q.disk))};
}

/** The internal snapshots of a qcow2 (`qemu-img snapshot -l`); -U: the machine may run. */
export async function internalSnapshots(disk: string, signal?: AbortSignal): Promise<string[]> {
  const out = await run('qemu-img', ['info', '-U', '--output=json', disk], {errorCode: 'ERR_QEMU_IMG', hint, signal});
  const info = JSON.parse(out) as {snapshots?: Array<{name: string}>};
  return (info.snapshots ?? []).map((s) => s.name);
}

/** Fails (usage, exit 2) unless the source disk has the snapshot, listing the ones it has. */
export async function checkSnapshot(source: string, disk: string, snapshot: string, signal?: AbortSignal): Promise<void> {
  const names = await internalSnapshots(disk, signal);
  if (names.includes(snapshot)) return;
  throw unknownCloneSnapshot(source, snapshot, names);
}

/**
 * The clone's base: a new qcow2 holding only what the source's disk (at `snapshot`, or now)
 * changed over the box image, backed by the box image itself (`qemu-img convert -B`). The clone
 * shares the box image but not the source's overlay, which keeps changing and may be destroyed.
 */
export async function makeCloneBase(options: {sourceDisk: string; boxImage: string; boxFormat: string; snapshot?: string; output: string; signal?: AbortSignal}): Promise<void> {
  const args = ['convert', '-O', 'qcow2', '-B', options.boxImage, '-F', options.boxFormat];
  // A snapshot is read from a disk that may be open by the running source (its data is frozen).
  if (options.snapshot !== undefined) args.push('-U', '-l', `snapshot.name=${options.snapshot}`);
  args.push(options.sourceDisk, options.output);
  await run('qemu-img', args, {errorCode: 'ERR_QEMU_IMG', hint, signal: options.signal, timeoutMs: 60 * 60_000});
}

/**
 * What a new clone inherits from its source's record: the box (image, format, kernel files and
 * command line, hardware, the box Vagrantfile's settings), checked again before anything is
 * made; a snapshot must exist on the source's disk. The source's key is copied (see cloneFiles).
 */
export async function inheritFromSource(projectRoot: string, cloneDir: string, source: CloneSource, signal?: AbortSignal): Promise<{box: NonNullable<MachineState['box']> | undefined; inherited: Pick<QemuMachineState, 'baseImage' | 'baseFormat' | 'kernel' | 'hardware' | 'boxSettings'>; clone: QemuCloneRecord}> {
  const {state, q, disk} = await readCloneSource(projectRoot, source);
  if (source.snapshot !== undefined) await checkSnapshot(source.machine, disk, source.snapshot, signal);
  const sourceKey = await copySourceKey(source.dir, cloneDir);
  return {
    box: state.box,
    inherited: {baseImage: q.baseImage, baseFormat: q.baseFormat, kernel: q.kernel, hardware: q.hardware, ...(q.boxSettings ? {boxSettings: q.boxSettings} : {})},
    clone: {of: source.machine, ...(source.snapshot === undefined ? {} : {snapshot: source.snapshot}), base: path.join(cloneDir, cloneFiles.base), ...(sourceKey ? {sourceKey} : {})},
  };
}

/**
 * The clone's base under its overlay, made from the source's disk if this up has not made it
 * yet (a first up interrupted before the overlay resumes here); the box image is checked by the
 * caller.
 */
export async function cloneBaseFor(ctx: {project: {root: string}}, record: QemuCloneRecord, q: Pick<QemuMachineState, 'baseImage' | 'baseFormat'>, signal?: AbortSignal): Promise<{file: string; format: string; virtualSize: number}> {
  const {existsSync} = await import('node:fs');
  if (!existsSync(record.base)) {
    const {machineDir} = await import('../../core/paths.js');
    const source = {machine: record.of, dir: machineDir(ctx.project.root, record.of), ...(record.snapshot === undefined ? {} : {snapshot: record.snapshot})};
    // The source's lock (the one every lifecycle command takes) for the copy: a `box up`,
    // `destroy` or `snapshot` of the source waits for it, and it waits for theirs; the source
    // is checked again under it, as it may have started since `--from` was checked.
    await withMachineLock(ctx.project.root, record.of, {waitMs: LOCK_WAIT_MS, signal}, async () => {
      const {disk, q: sourceRecord} = await readCloneSource(ctx.project.root, source);
      if (record.snapshot === undefined) await checkSourceAtRest(source, sourceRecord);
      const temp = `${record.base}.partial`;
      try {
        await makeCloneBase({sourceDisk: disk, boxImage: q.baseImage, boxFormat: q.baseFormat, snapshot: record.snapshot, output: temp, signal});
        const {rename} = await import('node:fs/promises');
        await rename(temp, record.base);
      } finally {
        const {rm} = await import('node:fs/promises');
        await rm(temp, {force: true});
      }
    });
  }
  const {imageInfo} = await import('./qemu-img.js');
  return {file: record.base, format: 'qcow2', virtualSize: (await imageInfo(record.base, signal)).virtualSize};
}

/** Refuses a source whose current disk is not at rest: its QEMU runs, or it is suspended (its writes are in the saved RAM). */
export async function checkSourceAtRest(source: CloneSource, q: Pick<QemuMachineState, 'suspended'>): Promise<void> {
  const {machineQemuPids} = await import('./process.js');
  const state = q.suspended ? 'suspended' : (await machineQemuPids(source.dir)).length > 0 ? 'running' : undefined;
  if (!state) return;
  throw new UsageError('ERR_CLONE_SOURCE_RUNNING', `Machine ${source.machine} is ${state}: its disk is not at rest, so it cannot be copied.`, {
    hint: `Run \`box halt ${source.machine}\`${state === 'suspended' ? ' (after `box resume`)' : ''} first, or clone one of its snapshots: --from ${source.machine}@SNAPSHOT.`,
  });
}
