// box build debian-12-custom (method: box, from the debootstrap test box): time of each build
// step under TCG (resolve the source, overlay, boot, wait for SSH, post-install scripts incl.
// apt-get from Debian's mirror and zeroing free space, kernel copy-out, shutdown, compress,
// package, catalog), the resulting box size, and the cost of a cache-hit rebuild. Runs the
// build in-process with a temp BOX_HOME, holding the machine-wide e2e slot (one boot).
import {mkdtempSync, rmSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {Ui} from '../src/core/ui.js';
import {takeE2eSlot} from '../test/helpers/e2e-slot.js';
import {addTestBox, ensureTestBox} from '../test/helpers/test-box.js';

const home = mkdtempSync(path.join(os.tmpdir(), 'box-bench-frombox-home-'));
const out = mkdtempSync(path.join(os.tmpdir(), 'box-bench-frombox-out-'));
process.env.BOX_HOME = home;
const {buildBox} = await import('../src/services/build.js');
const release = await takeE2eSlot();
try {
  await ensureTestBox();
  const t0 = performance.now();
  await addTestBox(home);
  const addSourceMs = Math.round(performance.now() - t0);
  const ui = new Ui({stream: process.stderr, quiet: true});
  const signal = new AbortController().signal;
  const first = await buildBox({template: 'debian-12-custom', templateDirs: [], outputDir: out, ui, signal});
  const t1 = performance.now();
  const hit = await buildBox({template: 'debian-12-custom', templateDirs: [], outputDir: out, ui, signal});
  const cacheHitMs = Math.round(performance.now() - t1);
  process.stdout.write(`${JSON.stringify({
    bench: 'build-from-box',
    template: 'debian-12-custom',
    source: 'debian-12-minimal',
    accel: 'tcg',
    add_source_box_ms: addSourceMs,
    steps_ms: Object.fromEntries(first.steps.map((s) => [s.name, s.ms])),
    build_total_ms: first.totalMs,
    box_mib: Number((first.box.size / 1024 ** 2).toFixed(1)),
    cache_hit: hit.cacheHit,
    cache_hit_ms: cacheHitMs,
    load_avg_1m: Number(os.loadavg()[0].toFixed(2)),
  }, null, 2)}\n`);
} finally {
  await release();
  rmSync(home, {recursive: true, force: true});
  rmSync(out, {recursive: true, force: true});
}
