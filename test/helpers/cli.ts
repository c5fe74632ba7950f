import {execa, type Result} from 'execa';
import {mkdtemp, readdir, readFile, rm} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {describeProcess, qemuProcesses, virtiofsdProcesses} from './qemu-processes.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const boxBin = path.join(repoRoot, 'bin', 'run.js');

export interface CliOptions {
  cwd?: string;
  env?: Record<string, string>;
  boxHome?: string;
  input?: string;
  timeoutMs?: number;
}

/**
 * Runs the built CLI (`bin/run.js`, so `npm run build` must have run) as a user would, and
 * never throws on a non-zero exit: tests assert on exitCode, stdout and stderr.
 */
export async function box(args: string[], options: CliOptions = {}): Promise<Result> {
  const cwd = options.cwd ?? repoRoot;
  const child = execa(process.execPath, [boxBin, ...args], {
    cwd,
    env: {...(options.boxHome ? {BOX_HOME: options.boxHome} : {}), NO_COLOR: '1', ...options.env},
    input: options.input,
    reject: false,
  });
  // On the test's timeout, the machines' consoles are read BEFORE box is stopped: its cleanup
  // of a new machine removes them, and they are what says where a hung boot stood.
  const timeoutMs = options.timeoutMs ?? 120_000;
  let report = '';
  const timer = setTimeout(() => {
    void machinesReport(cwd).then((text) => { report = text; }, () => undefined).finally(() => child.kill('SIGTERM'));
  }, timeoutMs);
  const result = await child.finally(() => clearTimeout(timer));
  if (report) result.stderr = `${String(result.stderr)}\n--- the test stopped box after ${timeoutMs} ms; what the project's machines logged by then ---\n${report}`;
  return result;
}

/** A failed command's output for an assertion message: stderr (progress, errors), then stdout (a --json error). */
export function said(result: Result): string {
  return `${String(result.stderr)}\n${String(result.stdout)}`;
}

/**
 * The project's QEMU and virtiofsd processes (state and CPU seconds: a spinning guest from a
 * stuck one), then the last lines of every log in its machine folders (consoles, virtiofsd).
 */
async function machinesReport(projectDir: string, lines = 25): Promise<string> {
  const machines = path.join(projectDir, '.box', 'machines');
  const parts = [...qemuProcesses(machines), ...virtiofsdProcesses(machines)].map(describeProcess);
  for (const machine of await readdir(machines).catch(() => [])) {
    for (const file of (await readdir(path.join(machines, machine)).catch(() => [])).filter((f) => f.endsWith('.log'))) {
      const text = await readFile(path.join(machines, machine, file), 'utf8').catch(() => '');
      parts.push(`== ${machine}/${file}\n${text.split('\n').slice(-lines).join('\n')}`);
    }
  }
  return parts.join('\n');
}

/** Runs the CLI with --json and parses stdout, failing loudly if stdout is not one JSON document. */
export async function boxJson<T = any>(args: string[], options: CliOptions = {}): Promise<{result: Result; json: T}> {
  const result = await box([...args, '--json'], options);
  let json: T;
  try {
    json = JSON.parse(String(result.stdout));
  } catch {
    throw new Error(`stdout of box ${args.join(' ')} --json is not JSON (exit ${result.exitCode}):\n${result.stdout}\n--- stderr ---\n${result.stderr}`);
  }
  return {result, json};
}

/** A temporary folder removed by the returned cleanup. */
export async function tempDir(prefix = 'box-test-'): Promise<{dir: string; cleanup: () => Promise<void>}> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  return {dir, cleanup: () => rm(dir, {recursive: true, force: true})};
}
