/**
 * A Boxfile fuzzer. Seeds: the valid example Boxfiles (boxfiles/, Boxfile.example); mutations:
 * deep nesting, huge counts, aliases and merge keys, odd unicode, control characters, wrong
 * types, truncation (boxfile-mutators.ts). Every input must validate or be refused as a usage
 * error (exit 0 or 2), with one JSON document, never "This looks like a bug", and within a
 * bound. Seeded and reproducible: the seed is printed; BOX_FUZZ_SEED=N BOX_FUZZ_ITERATIONS=M
 * (and BOX_FUZZ_ONLY=I for one input) replay a run. The loop calls the loader directly (in a
 * child process that a hanging input cannot block) for speed; a handful of inputs also go through
 * `box validate --json`.
 */
import assert from 'node:assert/strict';
import {mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fork} from 'node:child_process';
import {fileURLToPath} from 'node:url';
import {after, before, describe, test} from 'node:test';
import {repoRoot} from '../helpers/cli.js';
import type {FuzzJob, FuzzReport} from './boxfile-fuzz-worker.js';
import {input} from './boxfile-fuzz-worker.js';
import {Sandbox, UNEXPECTED, describeRun} from './harness.js';

const SEED = Number(process.env.BOX_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const ITERATIONS = Number(process.env.BOX_FUZZ_ITERATIONS ?? 300);
const ONLY = process.env.BOX_FUZZ_ONLY === undefined ? undefined : Number(process.env.BOX_FUZZ_ONLY);
/** One input may take this long in-process (16 000 machines validate in seconds; 9 and 9f). */
const BOUND_MS = 10_000;
/** `box validate` may take this long, node start-up included. */
const CLI_BOUND_MS = 20_000;

function seedBoxfiles(): string[] {
  const files = [path.join(repoRoot, 'Boxfile.example'), ...readdirSync(path.join(repoRoot, 'boxfiles')).map((d) => path.join(repoRoot, 'boxfiles', d, 'Boxfile'))];
  return files.map((f) => readFileSync(f, 'utf8'));
}

interface Finding {
  i: number;
  mutations: string[];
  problem: string;
  file: string;
}

describe('Boxfile fuzzer', {timeout: 15 * 60_000}, () => {
  const seeds = seedBoxfiles();
  const work = mkdtempSync(path.join(os.tmpdir(), 'box-fuzz-'));
  const findings: Finding[] = [];
  let sandbox: Sandbox;

  before(async () => {
    sandbox = await Sandbox.create('fuzz');
  });
  after(async () => {
    await sandbox?.dispose();
    // Kept when something was found: the inputs are named in the failure.
    if (findings.length === 0) rmSync(work, {recursive: true, force: true});
  });

  /** Keeps a failing input where the failure message says. */
  function keep(i: number, mutations: string[], problem: string): void {
    const file = path.join(work, `seed-${SEED}-input-${i}.Boxfile`);
    writeFileSync(file, input({seed: SEED, seeds}, i).text);
    findings.push({i, mutations, problem, file});
  }

  test(`${ONLY === undefined ? ITERATIONS : 1} mutated Boxfile${ONLY === undefined ? 's' : ` (input ${ONLY})`}: each is valid or a usage error, within ${BOUND_MS / 1000} s (seed ${SEED})`, async (t) => {
    t.diagnostic(`seed ${SEED}: replay with BOX_FUZZ_SEED=${SEED} BOX_FUZZ_ITERATIONS=${ITERATIONS} npm run test:faults -- --only boxfile-fuzz`);
    const from = ONLY ?? 0;
    const to = ONLY === undefined ? ITERATIONS : ONLY + 1;
    const counts = {valid: 0, invalid: 0, bug: 0};
    let next = from;
    let slowest = {i: -1, ms: 0};
    // A hanging input ends its process; the loop goes on with a new one from the next input.
    while (next < to) {
      const job: FuzzJob = {seed: SEED, from: next, to, seeds, dir: path.join(work, 'project')};
      const home = mkdtempSync(path.join(work, 'home-'));
      const child = fork(fileURLToPath(new URL('./boxfile-fuzz-worker.ts', import.meta.url)), [], {
        execArgv: ['--import', 'tsx'], env: {...process.env, BOX_HOME: home, BOX_FUZZ_CHILD: '1'}, stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      });
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-2000); });
      let current: {i: number; mutations: string[]; started: number} | undefined;
      const ended = await new Promise<'done' | 'hung' | 'crashed'>((resolve) => {
        const watchdog = setInterval(() => {
          if (current && Date.now() - current.started > BOUND_MS) {
            clearInterval(watchdog);
            child.kill('SIGKILL');
            resolve('hung');
          }
        }, 200);
        child.on('message', (m: FuzzReport) => {
          if (m.type === 'start') {
            current = {i: m.i, mutations: m.mutations, started: Date.now()};
            return;
          }
          counts[m.outcome]++;
          if (m.ms > slowest.ms) slowest = {i: m.i, ms: m.ms};
          if (m.outcome === 'bug') keep(m.i, current!.mutations, m.error!);
          next = m.i + 1;
          current = undefined;
        });
        child.on('exit', (code) => {
          clearInterval(watchdog);
          resolve(code === 0 && !current ? 'done' : 'crashed');
        });
        child.send(job);
      });
      if (ended !== 'done') {
        // A process that cannot even start is a broken test, not a finding.
        if (!current) assert.fail(`the fuzzer's process failed before any input:\n${stderr}`);
        keep(current.i, current.mutations, ended === 'hung' ? `still running after ${BOUND_MS / 1000} s` : `the loader crashed the process:\n${stderr.slice(-500)}`);
        counts.bug++;
        next = current.i + 1;
      } else if (next < to) {
        assert.fail(`the fuzzer's process stopped at input ${next} of ${to}:\n${stderr}`);
      }
    }
    t.diagnostic(`valid ${counts.valid}, refused ${counts.invalid}, bugs ${counts.bug}; slowest input ${slowest.i} (${Math.round(slowest.ms)} ms)`);
    assert.deepEqual(findings.map((f) => `input ${f.i} [${f.mutations.join(', ')}]: ${f.problem}\n    (saved as ${f.file})`), [],
      `seed ${SEED}: replay one with BOX_FUZZ_SEED=${SEED} BOX_FUZZ_ONLY=<input>`);
    assert.equal(counts.valid + counts.invalid + counts.bug, to - from, 'every input ran');
  });

  /** `box validate --json` on a Boxfile: exit 0 or 2, one JSON document, no bug, within the bound. */
  async function validateCli(text: string, label: string): Promise<void> {
    writeFileSync(path.join(sandbox.project, 'Boxfile'), text);
    const run = await sandbox.box(['validate', '--json'], {timeoutMs: CLI_BOUND_MS + 5000});
    assert.ok(!run.timedOut && run.ms < CLI_BOUND_MS, `${label}: validate ran ${run.ms} ms (bound ${CLI_BOUND_MS} ms)`);
    assert.ok(run.exitCode === 0 || run.exitCode === 2, `${label}: exit ${run.exitCode ?? run.signal}\n${describeRun(run)}`);
    assert.doesNotMatch(run.stdout + run.stderr, UNEXPECTED, `${label}:\n${describeRun(run)}`);
    let json: {valid?: boolean; error?: {code: string}};
    try {
      json = JSON.parse(run.stdout);
    } catch {
      assert.fail(`${label}: stdout is not one JSON document:\n${describeRun(run)}`);
    }
    assert.equal(run.exitCode === 0, json.valid === true, `${label}: the JSON agrees with the exit code`);
  }

  test('a few mutants through `box validate --json`: exit 0 or 2, one JSON document', async () => {
    for (let i = 0; i < 5; i++) {
      const mutant = input({seed: SEED, seeds}, i);
      await validateCli(mutant.text, `input ${i} [${mutant.mutations.join(', ')}] of seed ${SEED}`);
    }
  });

  const extremes: Array<[string, () => string]> = [
    ['100 000 levels of flow nesting (issue 10, 9)', () => `name: x\nbasebox: b\nprovisioners: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`],
    ['a 10 MB string (issue 10, 9f)', () => `name: x\nbasebox: debian-12\nhostname: ${'a'.repeat(10 * 1024 * 1024)}\n`],
    ['an alias bomb', () => `a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\nname: *f\nbasebox: b\n`],
    ['20 000 machines (issue 10, 9 and 9f)', () => `basebox: debian-12\nmachines:\n${Array.from({length: 20_000}, (_, i) => `  m${i}: {}`).join('\n')}\n`],
    ['a Boxfile with thousands of errors (the whole error document reaches a pipe)', () => `name: x\nbasebox: b\nprovisioners:\n${Array.from({length: 3000}, (_, i) => `  - {type: shell, inline: echo, bogus${i}: 1}`).join('\n')}\n`],
    ['sizes of 1e400 (issue 10, 9g; found by this fuzzer as "1e400㮃")', () => 'basebox: debian-12\ntargets:\n  qemu: {memory: 1e400M, disk: 1e400}\n'],
    ['control characters and ESC sequences in names', () => `name: "\\e[31mred\\u0007"\nbasebox: "debian\\u0000-12"\nmachines:\n  "\\e]0;title\\u0007": {}\n`],
  ];
  for (const [label, make] of extremes) {
    test(`box validate --json on ${label}: exit 0 or 2, one JSON document, in time`, () => validateCli(make(), label));
  }

  test('SIGTERM ends a CPU-bound validate within a second (issue 10, 9)', async () => {
    writeFileSync(path.join(sandbox.project, 'Boxfile'), `basebox: debian-12\nmachines:\n${Array.from({length: 200_000}, (_, i) => `  m${i}: {cpus: 1}`).join('\n')}\n`);
    // Killed 5 s after the SIGTERM at the latest: the case must not wait for the whole validation.
    const running = sandbox.start(['validate', '--json'], {timeoutMs: 6500});
    await new Promise((r) => setTimeout(r, 1500));
    const sent = Date.now();
    try {
      process.kill(running.pid, 'SIGTERM');
    } catch {
      // already finished: then it was not CPU-bound for long, which is fine too
    }
    const run = await running.done;
    if (run.ms > 1500) {
      assert.ok(Date.now() - sent < 1500, `box ended ${Date.now() - sent} ms after SIGTERM:\n${describeRun(run)}`);
      assert.ok(run.exitCode === 130 || run.exitCode === 143 || run.signal === 'SIGTERM', describeRun(run));
    }
  });
});
