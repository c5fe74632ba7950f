/**
 * qemu target: (1) boot-to-SSH-ready of `box up` vs a bare qemu-system-x86_64 + banner-polling
 * loop on the same image (ratio); (2) the cost of `box up` excluding guest boot (CLI start,
 * Boxfile, box resolution, overlay creation, QEMU start: the time until QEMU's pid file
 * appears) for a 1 GiB and a 10 GiB box, which must not grow with the box size.
 * Prints one JSON object on stdout; progress on stderr. Takes the machine-wide e2e slot.
 */
import {execFileSync, spawn} from 'node:child_process';
import {execa} from 'execa';
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {takeE2eSlot} from '../test/helpers/e2e-slot.js';
import {addTestBox, ensureTestBox} from '../test/helpers/test-box.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(repo, 'bin', 'run.js');
const runs = Number(process.env.BENCH_RUNS ?? 3);
const log = (m: string) => process.stderr.write(`[qemu-up bench] ${m}\n`);
const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];

// Async on purpose: a blocked event loop would stop the e2e slot's lock from being refreshed.
async function box(args: string[], cwd: string, home: string): Promise<string> {
  const r = await execa(process.execPath, [bin, ...args], {cwd, env: {BOX_HOME: home, NO_COLOR: '1'}, stdin: 'ignore'});
  return String(r.stdout);
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => { const {port} = s.address() as net.AddressInfo; s.close(() => resolve(port)); });
  });
}

function banner(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createConnection({host: '127.0.0.1', port});
    let data = '';
    const done = (ok: boolean) => { clearTimeout(t); s.destroy(); resolve(ok); };
    const t = setTimeout(() => done(false), 3000);
    s.on('data', (c) => { data += c; if (data.includes('SSH-')) done(true); });
    s.on('error', () => done(false));
    s.on('close', () => done(data.includes('SSH-')));
  });
}

/** Bare QEMU on an overlay of the same box.img (same accel, cpus, memory, kernel boot), polling the banner. */
async function bareBoot(boxDir: string, work: string): Promise<number> {
  const overlay = path.join(work, 'bare.qcow2');
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', path.join(boxDir, 'box.img'), '-F', 'qcow2', overlay]);
  const meta = JSON.parse(readFileSync(path.join(boxDir, 'metadata.json'), 'utf8'));
  const port = await freePort();
  const args = ['-accel', 'tcg,thread=multi', '-cpu', 'max', '-smp', '2', '-m', '1024', '-display', 'none', '-serial', 'null', '-monitor', 'none',
    '-drive', `file=${overlay},if=virtio,format=qcow2`, '-netdev', `user,id=n0,hostfwd=tcp:127.0.0.1:${port}-:22`, '-device', 'virtio-net-pci,netdev=n0',
    '-device', 'virtio-rng-pci'];
  if (meta.kernel) args.push('-kernel', path.join(boxDir, meta.kernel), ...(meta.initrd ? ['-initrd', path.join(boxDir, meta.initrd)] : []), '-append', `${meta.cmdline ?? 'root=/dev/vda1 ro'} console=ttyS0`);
  const t0 = performance.now();
  const qemu = spawn('qemu-system-x86_64', args, {stdio: 'ignore'});
  try {
    while (performance.now() - t0 < 300_000) {
      if (await banner(port)) return Math.round(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error('bare QEMU did not answer SSH within 300 s');
  } finally {
    qemu.kill('SIGKILL');
    rmSync(overlay, {force: true});
  }
}

/** A store entry (Vagrant layout) holding an unbootable qcow2 whose file really takes `gib` GiB. */
function fakeBox(home: string, name: string, gib: number): void {
  const dir = path.join(home, 'boxes', name, '1.0.0', 'libvirt');
  mkdirSync(dir, {recursive: true});
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-o', 'preallocation=falloc', path.join(dir, 'box.img'), `${gib}G`]);
  writeFileSync(path.join(dir, 'metadata.json'), JSON.stringify({provider: 'libvirt', format: 'qcow2', virtual_size: gib}));
}

/** `box up` until QEMU's pid file exists (guest boot excluded), then kill -9 and destroy. */
async function upUntilQemuStarts(project: string, home: string): Promise<number> {
  const pidFile = path.join(project, '.box', 'machines', 'default', 'qemu.pid');
  const t0 = performance.now();
  const child = spawn(process.execPath, [bin, 'up', '--no-provision'], {cwd: project, env: {...process.env, BOX_HOME: home}, stdio: 'ignore'});
  try {
    while (!existsSync(pidFile)) {
      if (child.exitCode !== null) throw new Error(`box up exited (${child.exitCode}) before QEMU started`);
      if (performance.now() - t0 > 60_000) throw new Error('QEMU did not start within 60 s');
      await new Promise((r) => setTimeout(r, 10));
    }
    return Math.round(performance.now() - t0);
  } finally {
    child.kill('SIGKILL');
    await box(['destroy', '--force'], project, home);
  }
}

const release = await takeE2eSlot();
const work = mkdtempSync(path.join(os.tmpdir(), 'box-bench-qemu-'));
const home = path.join(work, 'home');
const project = path.join(work, 'project');
mkdirSync(project, {recursive: true});
try {
  log('ensuring the test box (builds it the first time)');
  await ensureTestBox();
  await addTestBox(home);
  const boxDir = path.join(home, 'boxes', 'debian-12-minimal');
  const version = execFileSync('ls', [boxDir]).toString().trim().split('\n')[0];
  const storedBox = path.join(boxDir, version, 'libvirt');

  writeFileSync(path.join(project, 'Boxfile'), 'basebox: debian-12-minimal\ntarget: qemu\ntargets:\n  qemu: {cpus: 2, memory: 1024}\n');
  // Alternated so a busy host (shared CI runner) weighs on both sides alike; medians reported.
  const bootRuns = Number(process.env.BENCH_BOOT_RUNS ?? 2);
  const ups: any[] = [];
  const bares: number[] = [];
  for (let i = 0; i < bootRuns; i++) {
    log(`box up (real guest) ${i + 1}/${bootRuns}`);
    ups.push(JSON.parse(await box(['up', '--no-provision', '--json'], project, home)).machines[0]);
    log(`boot phases (ms after QEMU started): ${JSON.stringify(ups.at(-1).timings.boot ?? {})}; key: ${ups.at(-1).timings.keyFromGuest === undefined ? `SSH round ${ups.at(-1).timings.insertKey} ms` : 'taken by the guest at boot (fw_cfg)'}`);
    await box(['destroy', '--force'], project, home);
    log(`bare qemu-system-x86_64 + banner loop (same image) ${i + 1}/${bootRuns}`);
    bares.push(await bareBoot(storedBox, work));
  }
  const bootToSsh = ups.map((u) => u.timings.startQemu + u.timings.waitForSsh);
  const boxBootToSsh = median(bootToSsh);
  const up = ups.find((u) => u.timings.startQemu + u.timings.waitForSsh === boxBootToSsh);
  const bareMs = median(bares);
  log(`box boot-to-ssh ${bootToSsh.join(', ')} ms; bare ${bares.join(', ')} ms`);

  const overhead: Record<string, number> = {};
  for (const gib of [1, 10]) {
    fakeBox(home, `bench-${gib}g`, gib);
    writeFileSync(path.join(project, 'Boxfile'), `basebox: bench-${gib}g\ntarget: qemu\n`);
    const samples: number[] = [];
    for (let i = 0; i < runs; i++) samples.push(await upUntilQemuStarts(project, home));
    overhead[`box_up_until_qemu_started_${gib}gib_median_ms`] = median(samples);
    log(`${gib} GiB box: ${samples.join(', ')} ms`);
    rmSync(path.join(home, 'boxes', `bench-${gib}g`), {recursive: true, force: true});
  }

  console.log(JSON.stringify({
    box_up_total_ms: up.durationMs,
    box_up_timings_ms: up.timings,
    box_up_boot_to_ssh_ms: boxBootToSsh,
    // The guest's boot phases (ms after QEMU started, from its serial console) of every run, and
    // when the machine key was in (taken at boot through fw_cfg, or swapped in over SSH).
    box_up_boot_phases_ms: ups.map((u) => u.timings.boot ?? {}),
    box_up_key_ready_median_ms: median(ups.map((u) => u.timings.boot?.keyReady ?? Number.NaN)),
    load_average: os.loadavg().map((l) => Number(l.toFixed(2))),
    bare_qemu_boot_to_ssh_ms: bareMs,
    ratio_box_boot_to_ssh_vs_bare: Number((boxBootToSsh / bareMs).toFixed(2)),
    ratio_box_up_total_vs_bare: Number((up.durationMs / bareMs).toFixed(2)),
    accel: up.details?.accel,
    runs,
    boot_runs: bootRuns,
    box_up_boot_to_ssh_samples_ms: bootToSsh,
    bare_qemu_boot_to_ssh_samples_ms: bares,
    ...overhead,
    overhead_ratio_10gib_vs_1gib: Number((overhead.box_up_until_qemu_started_10gib_median_ms / overhead.box_up_until_qemu_started_1gib_median_ms).toFixed(2)),
  }, null, 2));
} finally {
  await box(['destroy', '--force'], project, home).catch(() => undefined);
  rmSync(work, {recursive: true, force: true});
  await release();
}
