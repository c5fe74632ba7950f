import assert from 'node:assert/strict';
import {execa, type ResultPromise} from 'execa';
import {existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync} from 'node:fs';
import {mkdtemp, rm} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {setTimeout as sleep} from 'node:timers/promises';
import {fileURLToPath, pathToFileURL} from 'node:url';
import {boxBin} from '../helpers/cli.js';
import {assertNoLeaks, killCaseProcesses, mountsUnder, snapshotFiles, type LeakScope} from './leaks.js';

/**
 * Runs the built CLI the way a user's terminal does (its own process group, so a Ctrl-C can
 * reach everything box started, as it would from a terminal), with the stage-fault preload,
 * in a sandbox of its own: project, BOX_HOME, TMPDIR and output folders under one root.
 */
export const preload = path.join(path.dirname(fileURLToPath(import.meta.url)), 'stage-fault.mjs');

export type FaultAction = 'kill' | 'sigint' | 'ctrl-c' | 'ctrl-c-twice' | 'sigterm' | 'pause';

export interface Fault {
  /** Stage name as box prints it after `==>`, optionally `#N` for its N-th occurrence. */
  stage: string;
  action: FaultAction;
  /** Act only once a child process of box matching this regex exists. */
  waitChild?: string;
  /** Act this many ms after the stage started. */
  delayMs?: number;
}

export interface StageRecord {
  pid: number;
  name: string;
  detail: string;
  t: number;
}

export interface BoxRun {
  args: string[];
  exitCode?: number;
  signal?: string;
  stdout: string;
  stderr: string;
  /** Stages this run (and the box processes it started) went through, in order. */
  stages: StageRecord[];
  ms: number;
  timedOut: boolean;
}

export interface RunOptions {
  fault?: Fault;
  env?: Record<string, string>;
  cwd?: string;
  timeoutMs?: number;
  input?: string;
}

export const UNEXPECTED = /This looks like a bug/;

let counter = 0;

export class Sandbox {
  readonly project: string;
  readonly home: string;
  readonly tmp: string;
  readonly out: string;
  /** Extra environment for every run (moto endpoint, fake SSH...). */
  env: Record<string, string> = {};
  private baseline?: Set<string>;

  private constructor(readonly root: string) {
    this.project = path.join(root, 'project');
    this.home = path.join(root, 'home');
    this.tmp = path.join(root, 'tmp');
    this.out = path.join(root, 'out');
    for (const dir of [this.project, this.home, this.tmp, this.out]) mkdirSync(dir, {recursive: true});
  }

  /**
   * `store`: a BOX_HOME whose boxes this sandbox shares (its `boxes` folder becomes a symlink to
   * the store's), so cases can run side by side without adding the 110 MB test box each.
   */
  static async create(label: string, options: {store?: string} = {}): Promise<Sandbox> {
    const sandbox = new Sandbox(await mkdtemp(path.join(os.tmpdir(), `box-fault-${label}-`)));
    if (options.store) {
      mkdirSync(path.join(options.store, 'boxes'), {recursive: true});
      symlinkSync(path.join(options.store, 'boxes'), path.join(sandbox.home, 'boxes'));
    }
    return sandbox;
  }

  get roots(): string[] {
    return [this.project, this.home, this.tmp, this.out];
  }

  /** Remembers what exists now: `assertNoLeaks` then reports only what appeared after. */
  mark(): void {
    this.baseline = snapshotFiles(this.roots);
  }

  write(relative: string, content: string): string {
    const file = path.join(this.project, relative);
    mkdirSync(path.dirname(file), {recursive: true});
    writeFileSync(file, content);
    return file;
  }

  private runEnv(extra: Record<string, string> | undefined, fault: Fault | undefined, log: string, pauseDir?: string): Record<string, string> {
    // The stage preload joins any the case's own environment loads (e.g. the fake SSH one).
    const nodeOptions = [extra?.NODE_OPTIONS ?? this.env.NODE_OPTIONS ?? process.env.NODE_OPTIONS ?? '', `--import ${pathToFileURL(preload).href}`].join(' ').trim();
    return {
      BOX_HOME: this.home,
      TMPDIR: this.tmp,
      NO_COLOR: '1',
      BOX_FAULT_LOG: log,
      ...(fault ? {BOX_FAULT_STAGE: fault.stage, BOX_FAULT_ACTION: fault.action} : {}),
      ...(fault?.waitChild ? {BOX_FAULT_WAIT_CHILD: fault.waitChild} : {}),
      ...(fault?.delayMs ? {BOX_FAULT_DELAY_MS: String(fault.delayMs)} : {}),
      ...(pauseDir ? {BOX_FAULT_PAUSE_DIR: pauseDir} : {}),
      ...this.env,
      ...extra,
      NODE_OPTIONS: nodeOptions,
    };
  }

  /** Starts `box ARGS` in its own process group; `done` resolves when it exits (never rejects). */
  start(args: string[], options: RunOptions = {}): RunningBox {
    const id = `${process.pid}-${++counter}`;
    const log = path.join(this.root, `stages-${id}.jsonl`);
    const pauseDir = options.fault?.action === 'pause' ? path.join(this.root, `pause-${id}`) : undefined;
    if (pauseDir) mkdirSync(pauseDir);
    const t0 = Date.now();
    const child = execa(process.execPath, [boxBin, ...args], {
      cwd: options.cwd ?? this.project,
      env: this.runEnv(options.env, options.fault, log, pauseDir),
      detached: true,
      reject: false,
      input: options.input,
      stdin: options.input === undefined ? 'ignore' : undefined,
      cleanup: true,
    });
    let timedOut = false;
    const timeoutMs = options.timeoutMs ?? 180_000;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // gone
      }
    }, timeoutMs);
    const done = (child as ResultPromise).then((r) => {
      clearTimeout(timer);
      const stages = readStages(log);
      return {
        args, exitCode: r.exitCode, signal: r.signal, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''),
        stages, ms: Date.now() - t0, timedOut,
      } satisfies BoxRun;
    });
    return new RunningBox(child.pid!, done, pauseDir);
  }

  async box(args: string[], options: RunOptions = {}): Promise<BoxRun> {
    return this.start(args, options).done;
  }

  /** `box ARGS --json`: asserts that stdout is exactly one JSON document. */
  async json<T = any>(args: string[], options: RunOptions = {}): Promise<BoxRun & {json: T}> {
    const run = await this.box([...args, '--json'], options);
    return {...run, json: parseOneJson<T>(run)};
  }

  /** Nothing of this case is left (see leaks.ts); only what was there at `mark()` may remain. */
  async assertClean(context: string, extra: Partial<LeakScope> = {}): Promise<void> {
    await assertNoLeaks({roots: this.roots, baseline: this.baseline ?? new Set(), ...extra, allow: [/\/stages-[\d-]+\.jsonl$/, /\/pause-[\d-]+(\/|$)/, ...(extra.allow ?? [])]}, context);
  }

  /**
   * Between cases that share the sandbox: whatever a failed case left (processes, project
   * state, temp files, outputs) goes, so the next case starts clean. Kept: the Boxfile and
   * other project files, and BOX_HOME's boxes.
   */
  async reset(): Promise<void> {
    killCaseProcesses(this.roots);
    await unmountUnder(this.roots);
    await rm(path.join(this.project, '.box'), {recursive: true, force: true});
    for (const dir of [this.tmp, this.out]) {
      await rm(dir, {recursive: true, force: true});
      mkdirSync(dir, {recursive: true});
    }
    await rm(path.join(this.home, 'machines.json'), {force: true});
  }

  async dispose(): Promise<void> {
    killCaseProcesses(this.roots);
    // A failed case may have left a tmpfs, or a killed debootstrap its /proc, mounted inside:
    // never let rm walk into those.
    await unmountUnder([this.root]);
    await rm(this.root, {recursive: true, force: true});
  }
}

/** Lazily unmounts everything mounted inside the folders (deepest first). */
async function unmountUnder(roots: string[]): Promise<void> {
  for (const mount of mountsUnder(roots).sort((a, b) => b.length - a.length)) await execa('umount', ['-l', mount], {reject: false});
}

export class RunningBox {
  constructor(readonly pid: number, readonly done: Promise<BoxRun>, private readonly pauseDir?: string) {}

  /** Waits until the preload paused box at its stage; returns what it reported. */
  async paused(timeoutMs = 180_000): Promise<{pid: number; name: string; detail: string}> {
    assert.ok(this.pauseDir, 'not started with a pause fault');
    const file = path.join(this.pauseDir, 'paused.json');
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void this.done.then(() => { exited = true; });
    while (!existsSync(file)) {
      if (exited) {
        const run = await this.done;
        throw new Error(`box ${run.args.join(' ')} exited (${run.exitCode ?? run.signal}) before it paused:\n${run.stderr.slice(-3000)}`);
      }
      if (Date.now() > deadline) throw new Error('box did not reach the pause stage in time');
      await sleep(50);
    }
    return JSON.parse(readFileSync(file, 'utf8'));
  }

  resume(): void {
    assert.ok(this.pauseDir);
    writeFileSync(path.join(this.pauseDir, 'go'), '');
  }

  kill(signal: NodeJS.Signals): void {
    process.kill(this.pid, signal);
  }
}

export function readStages(log: string): StageRecord[] {
  if (!existsSync(log)) return [];
  return readFileSync(log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as StageRecord);
}

export function parseOneJson<T>(run: BoxRun): T {
  try {
    return JSON.parse(run.stdout) as T;
  } catch {
    throw new Error(`stdout of box ${run.args.join(' ')} is not one JSON document (exit ${run.exitCode ?? run.signal}):\n${run.stdout.slice(0, 2000)}\n--- stderr ---\n${run.stderr.slice(-3000)}`);
  }
}

/** A compact account of a run for assertion messages. */
export function describeRun(run: BoxRun): string {
  return `box ${run.args.join(' ')} → ${run.exitCode ?? run.signal}${run.timedOut ? ' (TIMED OUT)' : ''} in ${run.ms} ms\nstages: ${run.stages.map((s) => s.name).join(', ')}\n--- stdout ---\n${run.stdout.slice(0, 1500)}\n--- stderr ---\n${run.stderr.slice(-2500)}`;
}

/**
 * The fault hit box at `stage`. A kill -9 is the last thing that happens; a signal is handled
 * on the next turn of box's event loop, so the stage may have moved on by one step.
 */
export function assertStoppedAt(run: BoxRun, fault: Fault): void {
  const name = fault.stage.split('#')[0];
  const pid = run.stages[0]?.pid;
  const own = run.stages.filter((s) => s.pid === pid);
  const hit = own.findIndex((s) => s.name === '!fault');
  assert.ok(hit > 0, `the fault never fired (stage ${fault.stage} not reached):\n${describeRun(run)}`);
  assert.equal(own[hit - 1].name, name, `the fault hit at ${fault.stage}:\n${describeRun(run)}`);
  if (fault.action === 'kill') {
    assert.equal(hit, own.length - 1, `nothing ran after kill -9:\n${describeRun(run)}`);
    assert.equal(run.signal, 'SIGKILL', describeRun(run));
  }
}

/**
 * What every interrupted box must say: exit 130, "Interrupted", and with --json one JSON error
 * document with ERR_INTERRUPTED; never "This looks like a bug".
 */
export function assertInterrupted(run: BoxRun, exitCode = 130): void {
  assert.equal(run.exitCode, exitCode, describeRun(run));
  assert.doesNotMatch(run.stderr + run.stdout, UNEXPECTED, describeRun(run));
  if (run.args.includes('--json')) {
    const json = parseOneJson<{error?: {code?: string}}>(run);
    assert.equal(json.error?.code, 'ERR_INTERRUPTED', describeRun(run));
  } else {
    assert.match(run.stderr, /Interrupted/, describeRun(run));
  }
}

/** Ports named in stage details ("127.0.0.1:PORT"), for the leak checker. */
export function portsOf(...runs: BoxRun[]): number[] {
  return runs.flatMap((r) => r.stages.flatMap((s) => [...s.detail.matchAll(/127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1]))));
}

/**
 * Runs `fn` with a tmpfs of `size` mounted on `dir` (a full disk on demand; needs root), and
 * always unmounts it, also when `fn` fails.
 */
export async function withTmpfs<T>(dir: string, size: string, fn: () => Promise<T>): Promise<T> {
  mkdirSync(dir, {recursive: true});
  await execa('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', dir]);
  try {
    return await fn();
  } finally {
    await execa('umount', ['-l', dir], {reject: false});
  }
}
