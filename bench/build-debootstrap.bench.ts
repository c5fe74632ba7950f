// box build debian-12-minimal (debootstrap method): time of each step, box size, and the cost
// of a cache-hit rebuild (in-process and through the CLI). Needs root and Debian's mirror.
// .deb downloads are cached in $BOX_BENCH_CACHE (default: the test box cache, /var/cache/box-test/cache),
// so "debootstrap" measures a warm-cache run after the first one. Then boots the box both ways
// under TCG (GRUB from the disk, and direct kernel boot with the shipped vmlinuz/initrd.img) and
// times boot to the SSH banner, holding the machine-wide e2e slot.
import {execFileSync, spawn} from 'node:child_process';
import {existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {Ui} from '../src/core/ui.js';
import {buildBox} from '../src/services/build.js';
import {takeE2eSlot} from '../test/helpers/e2e-slot.js';

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function banner(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({host: '127.0.0.1', port});
    let data = '';
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(3000, () => done(false));
    socket.on('data', (d) => {
      data += d.toString('latin1');
      if (data.includes('\n')) done(data.startsWith('SSH-'));
    });
    socket.on('error', () => done(false));
    socket.on('close', () => done(false));
  });
}

/** Boots an overlay of box.img and returns seconds until the SSH banner (then kills QEMU). */
async function bootToSsh(dir: string, direct: boolean): Promise<number> {
  const overlay = path.join(dir, `overlay-${direct ? 'direct' : 'grub'}.qcow2`);
  execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', path.join(dir, 'box.img'), overlay]);
  const meta = JSON.parse(readFileSync(path.join(dir, 'metadata.json'), 'utf8')) as {cmdline: string};
  const port = await freePort();
  const args = ['-machine', 'q35', '-accel', 'tcg,thread=multi', '-smp', '2', '-m', '1024',
    '-drive', `file=${overlay},format=qcow2,if=virtio`, '-netdev', `user,id=n0,hostfwd=tcp:127.0.0.1:${port}-:22`,
    '-device', 'virtio-net-pci,netdev=n0', '-display', 'none', '-serial', 'null',
    ...(direct ? ['-kernel', path.join(dir, 'vmlinuz'), '-initrd', path.join(dir, 'initrd.img'), '-append', meta.cmdline] : [])];
  const t0 = performance.now();
  const qemu = spawn('qemu-system-x86_64', args, {stdio: 'ignore'});
  try {
    while (performance.now() - t0 < 600_000) {
      if (await banner(port)) return Number(((performance.now() - t0) / 1000).toFixed(1));
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error('no SSH banner within 10 min');
  } finally {
    qemu.kill('SIGKILL');
  }
}

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cacheDir = process.env.BOX_BENCH_CACHE ?? path.join(process.env.BOX_TEST_CACHE ?? '/var/cache/box-test', 'cache');
const out = mkdtempSync(path.join(os.tmpdir(), 'box-bench-build-'));
const debCacheWarm = existsSync(path.join(cacheDir, 'debootstrap', 'bookworm-amd64'));
const ui = new Ui({stream: process.stderr, quiet: true});

try {
  const signal = new AbortController().signal;
  const t0 = performance.now();
  const built = await buildBox({template: 'debian-12-minimal', outputDir: out, cacheDir, force: true, ui, signal});
  const totalS = (performance.now() - t0) / 1000;
  const hits: number[] = [];
  for (let i = 0; i < 5; i++) {
    const h = await buildBox({template: 'debian-12-minimal', outputDir: out, cacheDir, ui, signal});
    if (!h.cacheHit) throw new Error('expected a cache hit');
    hits.push(h.totalMs);
  }
  const cliT0 = performance.now();
  execFileSync(process.execPath, [path.join(repo, 'bin', 'run.js'), 'build', 'debian-12-minimal', '--output', out, '--json'], {stdio: ['ignore', 'pipe', 'ignore']});
  const cliMs = Math.round(performance.now() - cliT0);
  const unpacked = path.join(out, 'unpacked');
  execFileSync('mkdir', ['-p', unpacked]);
  execFileSync('tar', ['-xf', built.box.path, '-C', unpacked]);
  const release = await takeE2eSlot();
  let boot: Record<string, number>;
  try {
    boot = {boot_to_ssh_grub_s: await bootToSsh(unpacked, false), boot_to_ssh_direct_kernel_s: await bootToSsh(unpacked, true)};
  } finally {
    await release();
  }
  const steps = Object.fromEntries(built.steps.map((s) => [`${s.name}_s`, Number((s.ms / 1000).toFixed(1))]));
  console.log(JSON.stringify({
    deb_cache_warm_before: debCacheWarm,
    total_build_s: Number(totalS.toFixed(1)),
    ...steps,
    box_mib: Number((built.box.size / 1024 ** 2).toFixed(1)),
    cache_hit_ms_median: hits.sort((a, b) => a - b)[2],
    cache_hit_cli_wall_ms: cliMs,
    ...boot,
    load_average_1m: Number(os.loadavg()[0].toFixed(1)),
  }));
} finally {
  rmSync(out, {recursive: true, force: true});
}
