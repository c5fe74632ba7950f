// Boxfile loading cost: parse + validate + merge + resolve, in-process (what every project
// command pays before doing anything), for the web/app/db example and for a synthetic
// 100-machine Boxfile with an environment overlay; plus an invalid Boxfile with many errors.
// Then the growth with size: 1k, 10k and 50k machines (the limit), whose cost per machine
// should stay flat (parsing was quadratic in the number of keys: 100 000 machines took 128 s).
// Prints one JSON object of measurements on stdout.
import {spawnSync} from 'node:child_process';
import {mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {loadLocatedProject, loadProject} from '../src/boxfile/load.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function time(runs: number, fn: () => Promise<unknown>): Promise<number> {
  await fn(); // warm-up (module loading, JIT)
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    await fn();
    samples.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return Number(median(samples).toFixed(3));
}

const home = await mkdtemp(path.join(os.tmpdir(), 'box-bench-boxfile-'));
process.env.BOX_HOME = home;
try {
  const example = path.join(repo, 'boxfiles', 'web-app-db', 'Boxfile');
  const big = path.join(home, 'Boxfile');
  const machines = Array.from({length: 100}, (_, i) => `  m${i}:\n    targets: {qemu: {memory: ${512 + i}M}}\n    forwarded_ports: [{guest: 80, host: ${10000 + i}}]\n    provisioners: [{type: shell, inline: echo ${i}}]`).join('\n');
  await writeFile(big, `basebox: "debian-12@>= 1.0, < 2"\nprovisioners: [{type: shell, inline: echo top}]\nmachines:\n${machines}\nenvironments:\n  prod: {target: aws, targets: {aws: {region: eu-west-1}}}\n`);
  const bad = path.join(home, 'bad', 'Boxfile');
  const badLines = Array.from({length: 100}, (_, i) => `  m${i}: {targets: {qemu: {cpus: 0, memroy: 1}}}`).join('\n');
  await mkdir(path.dirname(bad));
  await writeFile(bad, `basebox: debian-12\nmachines:\n${badLines}\n`);

  // Growth with size. `load` is loadProject's own work in this thread (parse, structure and
  // schema checks, merge, resolve): what must grow linearly. `validate_cli` is `box validate
  // --json` end to end from dist/ (start-up, the worker thread files over 64 KiB load in, and
  // printing the resolved machines as JSON), once per size.
  // CPU time too: on a shared machine the wall clock also measures the neighbours.
  const scaling: Record<string, {bytes: number; load_ms: number; load_us_per_machine: number; load_cpu_us_per_machine: number; validate_cli_ms: number}> = {};
  for (const count of [1_000, 10_000, 50_000]) {
    const file = path.join(home, `scale-${count}`, 'Boxfile');
    await mkdir(path.dirname(file));
    const entries = Array.from({length: count}, (_, i) => `  m${i}:\n    targets: {qemu: {memory: ${512 + (i % 512)}M}}\n    forwarded_ports: [{guest: 80, host: ${10000 + i}}]`);
    const text = `basebox: debian-12\nmachines:\n${entries.join('\n')}\n`;
    await writeFile(file, text);
    const load = await time(count >= 50_000 ? 3 : 5, () => loadLocatedProject({cwd: home, boxfilePath: file}));
    const cpuBefore = process.cpuUsage();
    await loadLocatedProject({cwd: home, boxfilePath: file});
    const cpu = process.cpuUsage(cpuBefore);
    const start = process.hrtime.bigint();
    const cli = spawnSync(process.execPath, [path.join(repo, 'bin', 'run.js'), 'validate', '--json', '--boxfile', file], {env: {...process.env, BOX_HOME: home}, stdio: ['ignore', 'ignore', 'pipe'], maxBuffer: 1 << 30});
    if (cli.status !== 0) throw new Error(`box validate failed on ${count} machines: ${String(cli.stderr)}`);
    const validate = Number(process.hrtime.bigint() - start) / 1e6;
    scaling[`${count}_machines`] = {bytes: Buffer.byteLength(text), load_ms: load, load_us_per_machine: Number((load * 1000 / count).toFixed(1)), load_cpu_us_per_machine: Number(((cpu.user + cpu.system) / count).toFixed(1)), validate_cli_ms: Number(validate.toFixed(0))};
  }

  const result = {
    example_web_app_db_ms: await time(50, () => loadProject({cwd: repo, boxfile: example, env: 'prod'})),
    synthetic_100_machines_ms: await time(20, () => loadProject({cwd: home, boxfile: big, env: 'prod'})),
    invalid_200_errors_ms: await time(20, () => loadProject({cwd: home, boxfile: bad}).catch((e: Error) => e)),
    scaling,
    runs: {example: 50, synthetic: 20, invalid: 20, scaling_load: '5 (3 at 50k)', scaling_validate_cli: 1},
    statistic: 'median',
  };
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
} finally {
  await rm(home, {recursive: true, force: true});
}
