/**
 * qemu target: what the private network adds to `box up` of a machine that exists (halted):
 * boot-to-SSH (QEMU start + wait for the SSH banner) with and without the second NIC, and
 * the guest-side step (interface + /etc/hosts over SSH). Runs alternate so a busy host weighs
 * on both alike; medians reported. One JSON object on stdout. Takes the machine-wide e2e slot.
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
const log = (m: string) => process.stderr.write(`[private-network bench] ${m}\n`);
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;

async function box(args: string[], cwd: string, home: string): Promise<string> {
  const r = await execa(process.execPath, [bin, ...args], {cwd, env: {BOX_HOME: home, NO_COLOR: '1'}, stdin: 'ignore'});
  return String(r.stdout);
}

const boxfile = (networks: boolean) => `basebox: debian-12-minimal\ntargets:\n  qemu: {cpus: 2, memory: 256}\n${networks ? 'networks: [{type: private}]\n' : ''}`;

const release = await takeE2eSlot();
const work = mkdtempSync(path.join(os.tmpdir(), 'box-bench-pnet-'));
const home = path.join(work, 'home');
const project = path.join(work, 'project');
mkdirSync(project, {recursive: true});
try {
  await ensureTestBox();
  await addTestBox(home);
  writeFileSync(path.join(project, 'Boxfile'), boxfile(false));
  log('creating the machine (first up, not measured)');
  await box(['up', '--no-provision'], project, home);
  await box(['halt'], project, home);
  const plain: number[] = [];
  const withNic: number[] = [];
  const configure: number[] = [];
  for (let i = 0; i < runs; i++) {
    for (const networks of [false, true]) {
      writeFileSync(path.join(project, 'Boxfile'), boxfile(networks));
      log(`up ${networks ? 'with' : 'without'} the private network ${i + 1}/${runs}`);
      const t = JSON.parse(await box(['up', '--no-provision', '--json'], project, home)).machines[0].timings;
      (networks ? withNic : plain).push(t.startQemu + t.waitForSsh);
      if (networks) configure.push(t.privateNetwork);
      await box(['halt'], project, home);
    }
  }
  process.stdout.write(`${JSON.stringify({
    runs,
    bootToSshMs: {withoutPrivateNetwork: median(plain), withPrivateNetwork: median(withNic), addedMs: median(withNic) - median(plain), samples: {plain, withNic}},
    configurePrivateNetworkMs: {median: median(configure), samples: configure},
  }, null, 2)}\n`);
} finally {
  await box(['destroy', '--force'], project, home).catch(() => undefined);
  rmSync(work, {recursive: true, force: true});
  await release();
}
