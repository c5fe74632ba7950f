import path from 'node:path';
import {BoxError, UsageError, errorMessage} from '../../core/errors.js';
import {readMachineState, updateMachineState} from '../../core/state.js';
import type {MachineContext, Provider, SnapshotInfo, SnapshotRestoreResult, SnapshotSupport} from '../provider.js';
import {imageSnapshot, listImageSnapshots, type ImageSnapshot} from './qemu-img.js';
import {QmpClient} from './qmp.js';
import {refuseUnsavableGuest} from './unsavable-guest.js';
import {qmpSocketPath} from './process.js';
import {qemuFiles} from './files.js';
import {processLaunch} from './suspend.js';

/** A live save writes the guest's whole RAM; under TCG on a busy host that takes a while. */
const JOB_TIMEOUT_MS = 10 * 60_000;
/** QEMU answers QMP slowly while a snapshot job holds its main loop. */
const QMP_TIMEOUT_MS = 120_000;

/**
 * The qemu target's snapshots: internal qcow2 snapshots of the machine's overlay disk, tagged
 * with the name the user gave (so `qemu-img convert -l snapshot.name=NAME` reads one).
 * - Running machine: QEMU's job-based `snapshot-save`/`-load`/`-delete` over QMP. A save holds
 *   the disk and the guest's RAM; loading it puts the running guest back in that state.
 * - Halted machine: `qemu-img snapshot -c/-a/-d` on the image.
 * - A snapshot with RAM restored on a halted machine: only its disk goes back (QEMU cannot load
 *   RAM into a machine that does not run); the next `box up` boots that disk, as after a power
 *   cut at the moment of the snapshot. A disk-only snapshot restored on a running machine: the
 *   machine is halted, its disk reverted, and booted again.
 * Every operation runs to its end once started (QEMU's jobs cannot be cancelled halfway; the
 * qemu-img runs in its own process group), so the image never holds a half-written snapshot.
 */
export function qemuSnapshots(provider: Provider): SnapshotSupport {
  return {
    async list(ctx) {
      return (await listImageSnapshots(diskOf(ctx))).map(toInfo);
    },

    async save(ctx, name) {
      const pid = await runningPid(ctx, provider);
      if (pid !== undefined) {
        await refuseUnsavable(ctx, 'snapshotted live');
        const shape = machineShape((await processLaunch(pid)).args);
        await withQmp(ctx, async (qmp, node) => qmp.runJob('snapshot-save', {'job-id': jobId('save'), tag: name, vmstate: node, devices: [node]}, JOB_TIMEOUT_MS));
        await recordShape(ctx, name, shape);
      } else {
        await imageSnapshot('create', diskOf(ctx), name);
        await recordShape(ctx, name, undefined);
      }
      const made = (await this.list(ctx)).find((s) => s.name === name);
      if (!made) throw new BoxError('ERR_SNAPSHOT', `QEMU reported snapshot ${name} of ${ctx.machine.name} as saved, but ${diskOf(ctx)} does not list it.`);
      return made;
    },

    async restore(ctx, snapshot): Promise<SnapshotRestoreResult> {
      const pid = await runningPid(ctx, provider);
      const running = pid !== undefined;
      if (running && snapshot.withMemory) {
        await refuseUnsavable(ctx, 'restored live');
        await refuseOtherShape(ctx, snapshot.name, machineShape((await processLaunch(pid).catch(() => ({args: []}))).args));
        try {
          await withQmp(ctx, async (qmp, node) => {
            await qmp.runJob('snapshot-load', {'job-id': jobId('load'), tag: snapshot.name, vmstate: node, devices: [node]}, JOB_TIMEOUT_MS);
            // The job resumes a guest that ran before it; make sure, so SSH answers at once.
            const status = await qmp.execute<{status: string}>('query-status');
            if (status.status !== 'running') await qmp.execute('cont');
          });
        } catch (error) {
          await stopHalfLoaded(ctx, provider, snapshot.name, error);
        }
        return {live: true};
      }
      if (running) {
        ctx.ui.info(`${ctx.machine.name}: snapshot ${snapshot.name} holds no memory (it was taken while the machine was halted); halting, reverting the disk and booting again.`);
        await provider.halt(ctx, {force: false, timeoutSeconds: 60});
        await imageSnapshot('apply', diskOf(ctx), snapshot.name);
        await provider.up(ctx);
        return {live: false, note: 'halted, disk reverted, booted again (the snapshot holds no memory)'};
      }
      await imageSnapshot('apply', diskOf(ctx), snapshot.name);
      return snapshot.withMemory
        ? {live: false, note: `only the disk was restored (the machine is halted, so the saved memory is not loaded); \`box up\` boots that disk, or \`box up\` first and restore again to resume the running guest`}
        : {live: false};
    },

    async delete(ctx, snapshot) {
      if (await runningPid(ctx, provider) !== undefined) {
        await withQmp(ctx, async (qmp, node) => qmp.runJob('snapshot-delete', {'job-id': jobId('delete'), tag: snapshot.name, devices: [node]}, JOB_TIMEOUT_MS));
      } else {
        await imageSnapshot('delete', diskOf(ctx), snapshot.name);
      }
      await recordShape(ctx, snapshot.name, undefined);
    },
  };
}

function toInfo(s: ImageSnapshot): SnapshotInfo {
  return {name: s.name, createdAt: s.date, sizeBytes: s.vmStateSize, withMemory: s.vmStateSize > 0};
}

function diskOf(ctx: MachineContext): string {
  return path.join(ctx.dir, qemuFiles.disk);
}

/**
 * What the memory of a live snapshot needs of the QEMU that loads it: the same machine type,
 * accelerator, CPU, CPU count, RAM and devices. QEMU finds a difference only while it loads the
 * stream, and then leaves the guest paused with half its state loaded.
 */
export function machineShape(args: readonly string[]): string[] {
  const shaping = new Set(['-machine', '-accel', '-cpu', '-smp', '-m', '-device']);
  const shape: string[] = [];
  for (let i = 0; i < args.length - 1; i++) if (shaping.has(args[i]!)) shape.push(`${args[i]} ${args[++i]}`);
  return shape;
}

/** The first difference between two shapes, in words (undefined: the same). */
export function shapeDifference(saved: readonly string[], now: readonly string[]): string | undefined {
  const gone = saved.find((arg) => !now.includes(arg));
  const added = now.find((arg) => !saved.includes(arg));
  if (gone === undefined && added === undefined) return undefined;
  return gone !== undefined ? `it was saved with \`${gone}\`, which this QEMU lacks` : `this QEMU has \`${added}\`, which it was saved without`;
}

/** Keeps (or forgets, with undefined) the shape of the QEMU a live snapshot was saved from. */
async function recordShape(ctx: MachineContext, name: string, shape: string[] | undefined): Promise<void> {
  if (shape === undefined && await savedShape(ctx, name) === undefined) return;
  await updateMachineState(ctx.project.root, ctx.machine.name, (s) => {
    const q = s.provider as ShapeRecord;
    const shapes = {...q.snapshotShapes};
    if (shape) shapes[name] = shape;
    else delete shapes[name];
    q.snapshotShapes = shapes;
  });
}

interface ShapeRecord {
  snapshotShapes?: Record<string, string[]>;
}

/** The recorded shape of the QEMU snapshot `name` was saved from live (undefined: none recorded). */
async function savedShape(ctx: MachineContext, name: string): Promise<string[] | undefined> {
  return ((await readMachineState(ctx.project.root, ctx.machine.name))?.provider as ShapeRecord | undefined)?.snapshotShapes?.[name];
}

/** A live restore into a QEMU of another shape (the Boxfile's memory or cpus changed since): refused before anything is loaded. */
async function refuseOtherShape(ctx: MachineContext, name: string, now: string[]): Promise<void> {
  const saved = await savedShape(ctx, name);
  // Snapshots saved before box recorded shapes: QEMU is the judge (stopHalfLoaded if it refuses).
  const difference = saved && now.length > 0 ? shapeDifference(saved, now) : undefined;
  if (difference === undefined) return;
  throw new UsageError('ERR_SNAPSHOT_MISMATCH', `Snapshot ${name} of ${ctx.machine.name} holds the memory of a QEMU started otherwise: ${difference}. Loading it would fail half-way and leave the guest paused; nothing was changed.`, {
    hint: `Restore it on the halted machine (\`box halt ${ctx.machine.name}\`, then \`box snapshot restore ${name} ${ctx.machine.name}\`: its disk only), or set the Boxfile back as it was (memory, cpus, networks), \`box halt\` and \`box up\`, and restore it live.`,
  });
}

/**
 * QEMU refused a live snapshot's memory half-way: the disk is already back at the snapshot, the
 * guest paused with part of its RAM loaded. It must never run on: its QEMU is stopped, so the
 * next `box up` boots the restored disk.
 */
async function stopHalfLoaded(ctx: MachineContext, provider: Provider, name: string, error: unknown): Promise<never> {
  await provider.halt(ctx, {force: true, timeoutSeconds: 10}).catch(() => undefined);
  throw new BoxError('ERR_SNAPSHOT', `QEMU could not load the memory of snapshot ${name} into ${ctx.machine.name} (${errorMessage(error)}). Its disk is back at the snapshot; the half-loaded guest was stopped.`, {
    hint: `\`box up ${ctx.machine.name}\` boots the restored disk.`,
  });
}

/** The QEMU pid of a running machine, undefined when halted; anything else is refused with its repair (a broken QEMU may hold the disk). */
async function runningPid(ctx: MachineContext, provider: Provider): Promise<number | undefined> {
  const report = await provider.status(ctx);
  if (report.status === 'running') {
    const pid = report.details?.pid;
    if (typeof pid !== 'number') throw new BoxError('ERR_SNAPSHOT', `The QEMU of ${ctx.machine.name} runs, but box does not know its process.`);
    return pid;
  }
  if (report.status === 'stopped') return undefined;
  throw new BoxError('ERR_NOT_SNAPSHOTTABLE', `Machine ${ctx.machine.name} is ${report.status}${report.reason ? ` (${report.reason})` : ''}; box takes snapshots of running or halted machines only.`, {
    hint: report.repair ? `Run \`${report.repair}\` first.` : `Run \`box up ${ctx.machine.name}\` first.`,
  });
}

/** A live save or load of a machine QEMU cannot save (live shared folders, an NVMe disk): refused before anything is touched. */
async function refuseUnsavable(ctx: MachineContext, what: string): Promise<void> {
  const state = await readMachineState(ctx.project.root, ctx.machine.name);
  const q = state?.provider as {sharedFolders?: Array<{type: string; destination?: string}>; hardware?: {diskBus?: string}} | undefined;
  refuseUnsavableGuest(ctx.machine.name, {folders: q?.sharedFolders ?? [], diskBus: q?.hardware?.diskBus}, {
    code: 'ERR_SNAPSHOT_UNSAVABLE', cannot: `cannot be ${what}`,
    hint: `Run \`box halt ${ctx.machine.name}\` and snapshot the halted machine (its disk only), or use rsync folders.`,
  });
}

/** A QMP session with the node name of the machine's overlay disk (the one writable qcow2 node on it). */
async function withQmp<T>(ctx: MachineContext, fn: (qmp: QmpClient, node: string) => Promise<T>): Promise<T> {
  const qmp = await QmpClient.connect(qmpSocketPath(ctx.dir), QMP_TIMEOUT_MS);
  try {
    const disk = diskOf(ctx);
    const nodes = await qmp.execute<Array<{'node-name': string; drv: string; file: string; ro: boolean}>>('query-named-block-nodes', {flat: true});
    const node = nodes.find((n) => n.drv === 'qcow2' && !n.ro && path.resolve(n.file) === disk);
    if (!node) throw new BoxError('ERR_SNAPSHOT', `The QEMU of ${ctx.machine.name} has no writable qcow2 node on ${disk}.`);
    return await fn(qmp, node['node-name']);
  } finally {
    qmp.close();
  }
}

let jobs = 0;
function jobId(kind: string): string {
  return `box-snapshot-${kind}-${process.pid}-${++jobs}`;
}
