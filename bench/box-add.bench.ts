// `box box add` of a ~1 GiB box from a local file against `sha256sum FILE && tar -xf FILE` of
// the same file: wall time, peak RSS (GNU time -v) and the ratio. box.img is a real qcow2 (the
// add checks its header) holding AES-CTR output (incompressible, fast to make), converted with
// qemu-img. The GiB files are removed at the end, even on failure.
import {spawnSync} from 'node:child_process';
import {createCipheriv, randomBytes} from 'node:crypto';
import {createReadStream, createWriteStream, mkdirSync, mkdtempSync, rmSync, statSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {pipeline} from 'node:stream/promises';
import {fileURLToPath} from 'node:url';
import tar from 'tar-stream';

const sizeMiB = Number(process.env.BENCH_BOX_MIB ?? 1024);
const runs = Number(process.env.BENCH_RUNS_ADD ?? 3);
const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'run.js');
const work = mkdtempSync(path.join(os.tmpdir(), 'box-bench-add-'));
const boxFile = path.join(work, 'bench.box');

async function makeImage(): Promise<string> {
  const raw = path.join(work, 'disk.raw');
  const size = sizeMiB * 1024 * 1024;
  const out = createWriteStream(raw);
  const cipher = createCipheriv('aes-128-ctr', randomBytes(16), randomBytes(16));
  const zeros = Buffer.alloc(1024 * 1024);
  for (let written = 0; written < size; written += zeros.length) {
    if (!out.write(cipher.update(zeros))) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise((r) => out.end(r));
  const qcow2 = path.join(work, 'box.img');
  const convert = spawnSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, qcow2], {encoding: 'utf8'});
  if (convert.status !== 0) throw new Error(`qemu-img convert failed: ${convert.stderr}`);
  rmSync(raw);
  return qcow2;
}

async function makeBox(): Promise<void> {
  const image = await makeImage();
  const pack = tar.pack();
  const writing = pipeline(pack, createWriteStream(boxFile));
  const metadata = Buffer.from(JSON.stringify({provider: 'libvirt', format: 'qcow2', virtual_size: Math.ceil(sizeMiB / 1024)}));
  pack.entry({name: 'metadata.json', size: metadata.length}, metadata);
  const entry = pack.entry({name: 'box.img', size: statSync(image).size});
  await pipeline(createReadStream(image, {highWaterMark: 1024 * 1024}), entry);
  pack.finalize();
  await writing;
  rmSync(image);
}

interface Measure {
  wall_s: number;
  /** user + system CPU seconds: steadier than wall time on a busy machine. */
  cpu_s: number;
  peak_rss_mib: number;
}

/** Runs a command under GNU time -v; returns wall time and the peak RSS it reports. */
function measure(command: string[], env: NodeJS.ProcessEnv = process.env): Measure {
  const t0 = performance.now();
  const result = spawnSync('/usr/bin/time', ['-v', ...command], {env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024});
  const wall = (performance.now() - t0) / 1000;
  if (result.status !== 0) throw new Error(`${command.join(' ')} failed (${result.status}):\n${result.stderr.slice(-2000)}`);
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(result.stderr);
  const user = Number(/User time \(seconds\): ([\d.]+)/.exec(result.stderr)?.[1] ?? NaN);
  const system = Number(/System time \(seconds\): ([\d.]+)/.exec(result.stderr)?.[1] ?? NaN);
  return {wall_s: Number(wall.toFixed(2)), cpu_s: Number((user + system).toFixed(2)), peak_rss_mib: rss ? Math.round(Number(rss[1]) / 1024) : -1};
}

function best(samples: Measure[]): Measure {
  return samples.reduce((a, b) => (b.wall_s < a.wall_s ? b : a));
}

try {
  await makeBox();
  // Warm the page cache once so both sides read the file from memory.
  spawnSync('cat', [boxFile], {stdio: ['ignore', 'ignore', 'ignore']});
  const ours: Measure[] = [];
  const baseline: Measure[] = [];
  for (let i = 0; i < runs; i++) {
    const home = path.join(work, `home-${i}`);
    ours.push(measure([process.execPath, bin, 'box', 'add', 'bench', boxFile, '--json'], {...process.env, BOX_HOME: home}));
    rmSync(home, {recursive: true, force: true});
    const out = path.join(work, `tar-${i}`);
    mkdirSync(out);
    baseline.push(measure(['sh', '-c', `sha256sum "${boxFile}" >/dev/null && tar -xf "${boxFile}" -C "${out}"`]));
    rmSync(out, {recursive: true, force: true});
  }
  const o = best(ours);
  const b = best(baseline);
  console.log(JSON.stringify({
    box_mib: sizeMiB,
    runs,
    box_add: o,
    sha256sum_then_tar: b,
    wall_ratio: Number((o.wall_s / b.wall_s).toFixed(2)),
    cpu_ratio: Number((o.cpu_s / b.cpu_s).toFixed(2)),
    load_average_1m: Number(os.loadavg()[0].toFixed(1)),
    box_add_samples_s: ours.map((m) => m.wall_s),
    baseline_samples_s: baseline.map((m) => m.wall_s),
  }));
} finally {
  rmSync(work, {recursive: true, force: true});
}
