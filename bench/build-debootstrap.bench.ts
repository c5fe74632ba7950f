// box build debian-12-minimal (debootstrap method): time of each step, box size, and the cost
// of a cache-hit rebuild (in-process and through the CLI). Needs root and Debian's mirror.
// .deb downloads are cached in $BOX_BENCH_CACHE (default: the test box cache, /var/cache/box-test/cache),
// so "debootstrap" measures a warm-cache run after the first one.
import {execFileSync} from 'node:child_process';
import {existsSync, mkdtempSync, rmSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {Ui} from '../src/core/ui.js';
import {buildBox} from '../src/services/build.js';

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
  const steps = Object.fromEntries(built.steps.map((s) => [`${s.name}_s`, Number((s.ms / 1000).toFixed(1))]));
  console.log(JSON.stringify({
    deb_cache_warm_before: debCacheWarm,
    total_build_s: Number(totalS.toFixed(1)),
    ...steps,
    box_mib: Number((built.box.size / 1024 ** 2).toFixed(1)),
    cache_hit_ms_median: hits.sort((a, b) => a - b)[2],
    cache_hit_cli_wall_ms: cliMs,
  }));
} finally {
  rmSync(out, {recursive: true, force: true});
}
