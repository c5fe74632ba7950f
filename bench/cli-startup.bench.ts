// CLI start-up: `box --version` and `box status` in a project, median of N runs each.
import {execFileSync} from 'node:child_process';
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

const runs = Number(process.env.BENCH_RUNS ?? 15);
const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'run.js');
const project = mkdtempSync(path.join(os.tmpdir(), 'box-bench-'));
const home = mkdtempSync(path.join(os.tmpdir(), 'box-bench-home-'));
writeFileSync(path.join(project, 'Boxfile'), 'basebox: debian-12-minimal\ntarget: qemu\n');

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function time(args: string[]): number {
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    try {
      execFileSync(process.execPath, [bin, ...args], {cwd: project, env: {...process.env, BOX_HOME: home}, stdio: 'ignore'});
    } catch {
      // status may exit non-zero on a project with no machines yet; we time start-up either way
    }
    samples.push(performance.now() - t0);
  }
  return Math.round(median(samples));
}

try {
  const result = {
    runs,
    version_median_ms: time(['--version']),
    status_median_ms: time(['status']),
    status_json_median_ms: time(['status', '--json']),
  };
  console.log(JSON.stringify(result));
} finally {
  rmSync(project, {recursive: true, force: true});
  rmSync(home, {recursive: true, force: true});
}
