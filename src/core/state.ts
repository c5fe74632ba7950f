import {copyFile, readFile} from 'node:fs/promises';
import path from 'node:path';
import {BoxError, errorMessage} from './errors.js';
import {writeJsonAtomic} from './fs-json.js';
import {lockHeld, withLock} from './lock.js';
import {machineDir, machineFiles, userPaths} from './paths.js';
import {orList} from './printable.js';

/**
 * What box records about one machine in `.box/machines/<name>/state.json`. Every external
 * thing (process, disk, cloud resource) is recorded here BEFORE it is created, so that
 * `destroy` after a crash can find it. Provider-specific facts live under `provider`.
 */
export interface MachineState {
  machine: string;
  /** A registered target's name (providers/registry.ts). */
  target: string;
  createdAt: string;
  /** Box the machine was made from (so `box box remove` can refuse while it is in use). */
  box?: {name: string; version: string; provider: string; dir: string};
  /** True once the provisioners have run successfully on first up. */
  provisioned: boolean;
  /**
   * false from the moment the machine is recorded until its first `up` got the guest ready
   * (booted, insecure key replaced, host name set). A machine left at false was interrupted
   * for good (a second Ctrl-C, kill -9): nothing of the user's is on it yet, so `status` calls
   * it broken and `up` finishes it (still running) or creates it again. Records of older box
   * versions lack the field: they count as finished.
   */
  upCompleted?: boolean;
  /** The host name box last set in the guest (the Boxfile's `hostname`). */
  hostname?: string;
  /** True once the first up's setup event ran (its hooks succeeded, or there were none). */
  setupDone?: boolean;
  /** The machine's address and MAC on the project's private network, kept across halt/up. */
  privateNetwork?: {ip: string; mac?: string};
  /** A clone (`box up NAME --from MACHINE[@SNAPSHOT]`): where its disk state came from. An undeclared clone is listed with its source's settings. */
  cloneOf?: {machine: string; snapshot?: string};
  provider: Record<string, unknown>;
}

export function stateFile(projectRoot: string, machine: string): string {
  return path.join(machineDir(projectRoot, machine), machineFiles.state);
}

/**
 * The recorded state, or undefined when the machine has none. A file that is not a machine
 * record (truncated by a full disk, edited by hand, garbage) is ERR_STATE_CORRUPT: every
 * command says so and names the repair, instead of failing as a bug.
 */
export async function readMachineState(projectRoot: string, machine: string): Promise<MachineState | undefined> {
  const file = stateFile(projectRoot, machine);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let problem: string | undefined;
  let state: MachineState | undefined;
  try {
    state = JSON.parse(text) as MachineState;
    problem = stateProblem(state);
  } catch (error) {
    problem = text.trim() === '' ? 'it is empty' : `it is not JSON (${errorMessage(error)})`;
  }
  if (problem !== undefined) throw new StateCorruptError(machine, file, problem);
  return state;
}

/** Target names a record may name: every target as it registers (providers/registry.ts). */
const stateTargets: string[] = [];

export function allowStateTarget(name: string): void {
  if (!stateTargets.includes(name)) stateTargets.push(name);
}

/** What makes a parsed state.json unusable, or undefined when it is a machine record. */
function stateProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'it is not a JSON object';
  const s = value as Partial<MachineState>;
  if (typeof s.machine !== 'string') return 'it has no machine name';
  // Checked against the registered targets; code that registered none (a provider used on its
  // own) takes any target name rather than calling every record unreadable.
  if (stateTargets.length === 0 ? typeof s.target !== 'string' : !stateTargets.includes(String(s.target))) {
    return stateTargets.length === 0 ? 'it names no target' : `its target ${JSON.stringify(s.target)} is not ${orList(stateTargets)}`;
  }
  if (typeof s.provider !== 'object' || s.provider === null) return 'it has no provider record';
  return undefined;
}

/** A state.json box cannot read. `box destroy` is the repair: it finds what the machine started by other records. */
export class StateCorruptError extends BoxError {
  constructor(readonly machine: string, readonly file: string, readonly problem: string) {
    super('ERR_STATE_CORRUPT', `The record of machine ${machine} is unreadable: ${file}: ${problem}.`, {
      hint: `Run \`box destroy ${machine}\`: it stops what the machine started (found from its folder, not from this file) and removes it. Copy files out of ${path.dirname(file)} first if you need them (the disk is disk.qcow2).`,
      details: {machine, file, problem},
    });
    this.name = 'StateCorruptError';
  }
}

export function isStateCorrupt(error: unknown): error is StateCorruptError {
  return error instanceof StateCorruptError;
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

/**
 * How long a second box process waits for a machine another one is working on. Longer than the
 * lock's 10 s staleness, so the lock of a box killed with -9 is taken over rather than blocking
 * `destroy`/`status` repairs; a live holder keeps it fresh and the waiter fails with ERR_LOCKED.
 */
export const LOCK_WAIT_MS = 12_000;

/** Lock held for the whole of a lifecycle operation on one machine. */
export async function withMachineLock<T>(projectRoot: string, machine: string, options: {waitMs?: number; signal?: AbortSignal}, fn: () => Promise<T>): Promise<T> {
  return withLock(machineLockTarget(projectRoot, machine), {what: `machine ${machine}`, waitMs: options.waitMs, signal: options.signal}, fn);
}

function machineLockTarget(projectRoot: string, machine: string): string {
  return path.join(machineDir(projectRoot, machine), machineFiles.lock);
}

/** Is another box process working on the machine right now (its lock held and fresh)? */
export async function machineLockHeld(projectRoot: string, machine: string): Promise<boolean> {
  return lockHeld(machineLockTarget(projectRoot, machine));
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

export interface MachineIndex {
  entries: IndexEntry[];
  /** Set when the file is damaged: what is wrong, and how many entries could still be read. */
  damage?: {file: string; problem: string; recovered: number};
}

/**
 * The index with its damage report. A damaged file (truncated, garbage) never fails a command:
 * the entries that still parse are used, and the next write keeps them (and a copy of the
 * damaged file next to it, `machines.json.damaged`).
 */
export async function readMachineIndexReport(): Promise<MachineIndex> {
  const file = userPaths.machineIndex();
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {entries: []};
    throw error;
  }
  try {
    const parsed = JSON.parse(text) as unknown;
    if (Array.isArray(parsed) && parsed.every(isIndexEntry)) return {entries: parsed};
    const entries = Array.isArray(parsed) ? parsed.filter(isIndexEntry) : [];
    return {entries, damage: {file, problem: Array.isArray(parsed) ? 'some entries are not machine records' : 'it is not a JSON list', recovered: entries.length}};
  } catch (error) {
    const entries = salvageEntries(text);
    return {entries, damage: {file, problem: text.trim() === '' ? 'it is empty' : `it is not JSON (${errorMessage(error)})`, recovered: entries.length}};
  }
}

export async function readMachineIndex(): Promise<IndexEntry[]> {
  return (await readMachineIndexReport()).entries;
}

function isIndexEntry(value: unknown): value is IndexEntry {
  const e = value as Partial<IndexEntry> | null;
  return typeof e === 'object' && e !== null && typeof e.projectRoot === 'string' && typeof e.machine === 'string' && typeof e.project === 'string' && typeof e.target === 'string';
}

/**
 * The complete `{...}` objects of a damaged index (a list cut short by a full disk keeps every
 * entry but the last): each balanced object at the list's top level that parses as an entry.
 */
export function salvageEntries(text: string): IndexEntry[] {
  const entries: IndexEntry[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{') {
      if (depth === 0) start = i;
      depth++;
    } else if (c === '}' && depth > 0) {
      depth--;
      if (depth === 0 && start >= 0) {
        try {
          const value = JSON.parse(text.slice(start, i + 1)) as unknown;
          if (isIndexEntry(value)) entries.push(value);
        } catch {
          // not an entry: skip it
        }
        start = -1;
      }
    }
  }
  return entries;
}

/**
 * Changes of this process, one after another: machines that go up at once would otherwise
 * contend for the file lock, whose waiters poll every half second.
 */
let indexChanges: Promise<unknown> = Promise.resolve();

async function changeIndex(change: (entries: IndexEntry[]) => IndexEntry[]): Promise<void> {
  const file = userPaths.machineIndex();
  const next = indexChanges.catch(() => undefined).then(() => withLock(file, {what: 'the machine index', waitMs: 10_000}, async () => {
    const {entries, damage} = await readMachineIndexReport();
    // Whatever could not be read stays available to the user, once.
    if (damage) await copyFile(file, `${file}.damaged`).catch(() => undefined);
    await writeJsonAtomic(file, change(entries));
  }));
  indexChanges = next;
  await next;
}

/** Rewrites a damaged index with the entries that could be read (`box status --all --prune`). */
export async function repairMachineIndex(): Promise<void> {
  await changeIndex((entries) => entries);
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
