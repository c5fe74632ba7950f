/**
 * `box up` of a project's three machines (256 MiB each, halted) all at once (the default)
 * against one after another (--no-parallel), in the same run: alternating rounds so a busy host
 * weighs on both alike; medians reported, with the ratio. One JSON object on stdout. Takes the
 * machine-wide e2e slot.
 */
import {execa} from 'execa';
import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {takeE2eSlot} from '../test/helpers/e2e-slot.js';
import {addTestBox, ensureTestBox} from '../test/helpers/test-box.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(repo, 'bin', 'run.js');
const runs = Number(process.env.BENCH_RUNS ?? 2);
const log = (m: string) => process.stderr.write(`[parallel-up bench] ${m}\n`);
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;

async function box(args: string[], cwd: string, home: string): Promise<void> {
  await execa(process.execPath, [bin, ...args], {cwd, env: {BOX_HOME: home, NO_COLOR: '1'}, stdin: 'ignore'});
}

const release = await takeE2eSlot();
const work = mkdtempSync(path.join(os.tmpdir(), 'box-bench-parallel-'));
const home = path.join(work, 'home');
const project = path.join(work, 'project');
mkdirSync(project, {recursive: true});
try {
  await ensureTestBox();
  await addTestBox(home);
  writeFileSync(path.join(project, 'Boxfile'), 'basebox: debian-12-minimal\ntargets:\n  qemu: {cpus: 1, memory: 256}\nmachines:\n  web:\n  app:\n  db:\n');
  log('creating the three machines (not measured)');
  await box(['up', '--no-provision'], project, home);
  await box(['halt'], project, home);
  const parallel: number[] = [];
  const sequential: number[] = [];
  for (let i = 0; i < runs; i++) {
    for (const mode of ['parallel', 'sequential'] as const) {
      log(`up of 3 machines, ${mode}, ${i + 1}/${runs}`);
      const t0 = performance.now();
      await box(['up', '--no-provision', ...(mode === 'sequential' ? ['--no-parallel'] : [])], project, home);
      (mode === 'parallel' ? parallel : sequential).push(Math.round(performance.now() - t0));
      await box(['halt'], project, home);
    }
  }
  process.stdout.write(`${JSON.stringify({
    runs, machines: 3,
    upMs: {parallel: median(parallel), sequential: median(sequential), ratio: Number((median(parallel) / median(sequential)).toFixed(2)), samples: {parallel, sequential}},
  }, null, 2)}\n`);
} finally {
  await box(['destroy', '--force'], project, home).catch(() => undefined);
  rmSync(work, {recursive: true, force: true});
  await release();
}
