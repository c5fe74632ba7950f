/**
 * The fuzzer's loop, in a child process of the test (so the test can stop an input that hangs;
 * a worker thread was six times slower under tsx): each mutated Boxfile goes through the loader
 * `box validate` uses, and its result or error through JSON as `--json` would print it. Gets its
 * job over IPC and reports every input before and after it runs.
 */
import {mkdirSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {BoxError} from '../../src/core/errors.js';
import {loadProject} from '../../src/boxfile/load.js';
import {mutate, Random} from './boxfile-mutators.js';
// Loading a Boxfile needs the registered targets (the CLI registers them the same way).
import '../../src/providers/registry.js';

export interface FuzzJob {
  seed: number;
  from: number;
  to: number;
  seeds: string[];
  dir: string;
}

export type FuzzReport =
  | {type: 'start'; i: number; mutations: string[]; bytes: number}
  | {type: 'done'; i: number; outcome: 'valid' | 'invalid' | 'bug'; ms: number; error?: string};

/** Input `i` of a run: its own generator, so any iteration is reproduced from (seed, i) alone. */
export function input(job: Pick<FuzzJob, 'seed' | 'seeds'>, i: number) {
  const r = new Random((job.seed ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0);
  return mutate(r.pick(job.seeds), r);
}

async function runJob(job: FuzzJob): Promise<void> {
  mkdirSync(job.dir, {recursive: true});
  const file = path.join(job.dir, 'Boxfile');
  for (let i = job.from; i < job.to; i++) {
    const mutant = input(job, i);
    writeFileSync(file, mutant.text);
    process.send!({type: 'start', i, mutations: mutant.mutations, bytes: Buffer.byteLength(mutant.text)} satisfies FuzzReport);
    const t0 = performance.now();
    let report: FuzzReport;
    try {
      const project = await loadProject({cwd: job.dir, boxfile: file});
      JSON.stringify({valid: true, boxfile: project.boxfilePath, project: project.name, machines: project.machines});
      report = {type: 'done', i, outcome: 'valid', ms: performance.now() - t0};
    } catch (error) {
      const ms = performance.now() - t0;
      if (error instanceof BoxError && error.exitCode === 2 && error.code !== 'ERR_UNEXPECTED') {
        try {
          JSON.stringify({error: error.toJSON()});
          report = {type: 'done', i, outcome: 'invalid', ms};
        } catch (jsonError) {
          report = {type: 'done', i, outcome: 'bug', ms, error: `the error does not render as JSON: ${String(jsonError)}`};
        }
      } else {
        const e = error as Error;
        report = {type: 'done', i, outcome: 'bug', ms, error: `${e?.name ?? 'Error'}${error instanceof BoxError ? ` ${error.code} (exit ${error.exitCode})` : ''}: ${String(e?.message ?? error).slice(0, 500)}`};
      }
    }
    process.send!(report);
  }
}

if (process.send && process.env.BOX_FUZZ_CHILD === '1') {
  process.once('message', (job: FuzzJob) => {
    void runJob(job).then(() => process.disconnect());
  });
}
