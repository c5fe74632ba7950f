import path from 'node:path';
import {readJson, writeJsonAtomic} from './fs-json.js';
import {withLock} from './lock.js';
import {machineDir, machineFiles, userPaths} from './paths.js';

/**
 * What box records about one machine in `.box/machines/<name>/state.json`. Every external
 * thing (process, disk, cloud resource) is recorded here BEFORE it is created, so that
 * `destroy` after a crash can find it. Provider-specific facts live under `provider`.
 */
export interface MachineState {
  machine: string;
  target: 'qemu' | 'virtualbox' | 'aws';
  createdAt: string;
  /** Box the machine was made from (so `box box remove` can refuse while it is in use). */
  box?: {name: string; version: string; provider: string; dir: string};
  /** True once the provisioners have run successfully on first up. */
  provisioned: boolean;
  provider: Record<string, unknown>;
}

export function stateFile(projectRoot: string, machine: string): string {
  return path.join(machineDir(projectRoot, machine), machineFiles.state);
}

export async function readMachineState(projectRoot: string, machine: string): Promise<MachineState | undefined> {
  return readJson<MachineState | undefined>(stateFile(projectRoot, machine), undefined);
}

export async function writeMachineState(projectRoot: string, state: MachineState): Promise<void> {
  await writeJsonAtomic(stateFile(projectRoot, state.machine), state);
}

/** Applies `change` to the recorded state and writes it atomically. */
export async function updateMachineState(projectRoot: string, machine: string, change: (s: MachineState) => void): Promise<MachineState> {
  const state = await readMachineState(projectRoot, machine);
  if (!state) throw new Error(`No recorded state for machine ${machine}`);
  change(state);
  await writeMachineState(projectRoot, state);
  return state;
}

/** Lock held for the whole of a lifecycle operation on one machine. */
export async function withMachineLock<T>(projectRoot: string, machine: string, options: {waitMs?: number}, fn: () => Promise<T>): Promise<T> {
  return withLock(path.join(machineDir(projectRoot, machine), machineFiles.lock), {what: `machine ${machine}`, waitMs: options.waitMs}, fn);
}

/** The user-level index of every machine box knows about (`~/.box/machines.json`), for `status --all`. */
export interface IndexEntry {
  project: string;
  projectRoot: string;
  machine: string;
  target: string;
  box?: {name: string; version: string; provider: string};
  updatedAt: string;
}

export async function readMachineIndex(): Promise<IndexEntry[]> {
  return readJson<IndexEntry[]>(userPaths.machineIndex(), []);
}

async function changeIndex(change: (entries: IndexEntry[]) => IndexEntry[]): Promise<void> {
  const file = userPaths.machineIndex();
  await withLock(file, {what: 'the machine index', waitMs: 10_000}, async () => {
    const entries = await readMachineIndex();
    await writeJsonAtomic(file, change(entries));
  });
}

export async function indexMachine(entry: Omit<IndexEntry, 'updatedAt'>): Promise<void> {
  await changeIndex((entries) => [
    ...entries.filter((e) => !(e.projectRoot === entry.projectRoot && e.machine === entry.machine)),
    {...entry, updatedAt: new Date().toISOString()},
  ]);
}

export async function unindexMachine(projectRoot: string, machine: string): Promise<void> {
  await changeIndex((entries) => entries.filter((e) => !(e.projectRoot === projectRoot && e.machine === machine)));
}
