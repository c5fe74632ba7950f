import {execa, type Result} from 'execa';
import {mkdtemp, rm} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

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
  return execa(process.execPath, [boxBin, ...args], {
    cwd: options.cwd ?? repoRoot,
    env: {...(options.boxHome ? {BOX_HOME: options.boxHome} : {}), NO_COLOR: '1', ...options.env},
    input: options.input,
    reject: false,
    timeout: options.timeoutMs ?? 120_000,
  });
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
