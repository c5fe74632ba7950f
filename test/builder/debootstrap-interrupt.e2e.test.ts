import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {execa} from 'execa';
import {existsSync} from 'node:fs';
import {readFile, readdir} from 'node:fs/promises';
import path from 'node:path';
import {boxBin, repoRoot, tempDir} from '../helpers/cli.js';
import {testBoxCacheRoot} from '../helpers/test-box.js';

// A real `box build` (debootstrap from Debian's mirror, run as root) interrupted with Ctrl-C
// (SIGINT) while debootstrap is installing packages inside the target, which is when it has
// /proc and /sys mounted there: everything must be unmounted and removed, and no debootstrap,
// dpkg or chroot process may survive. Needs `npm run build`. Boots no guest.
describe('interrupting a debootstrap build', {timeout: 15 * 60_000}, () => {
  let tmp: {dir: string; cleanup: () => Promise<void>};
  before(async () => {
    tmp = await tempDir('box-debootstrap-int-');
  });
  after(() => tmp.cleanup());

  test('Ctrl-C during debootstrap exits 130 and leaves no mounts, processes, work files or partial box', async () => {
    const work = path.join(tmp.dir, 'tmp');
    const out = path.join(tmp.dir, 'out');
    await execa('mkdir', ['-p', work]);
    const child = execa(process.execPath, [boxBin, 'build', 'debian-12-minimal', '--output', out, '--force'], {
      cwd: repoRoot,
      // TMPDIR moves the build's work folder where we can watch it; BOX_HOME shares the test
      // box's .deb cache (no output goes there: no --add).
      env: {BOX_HOME: testBoxCacheRoot(), TMPDIR: work, NO_COLOR: '1'},
      reject: false,
      all: true,
    });
    // The sentinel line is written once debootstrap is installing inside the target.
    let seen = '';
    const inside = new Promise<void>((resolve) => {
      child.all!.on('data', (d: Buffer) => {
        seen += d.toString();
        if (/I: (Installing core packages|Configuring)/.test(seen)) resolve();
      });
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((r) => {
      timer = setTimeout(() => r('timeout'), 10 * 60_000);
    });
    const which = await Promise.race([inside.then(() => 'inside' as const), child.then(() => 'exited' as const), timeout]);
    clearTimeout(timer);
    if (which !== 'inside') child.kill('SIGKILL');
    assert.equal(which, 'inside', `build did not reach debootstrap's second stage:\n${seen.slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 1500));
    child.kill('SIGINT');
    const result = await child;
    assert.equal(result.exitCode, 130, String(result.all).slice(-2000));
    assert.match(String(result.all), /Interrupted/);

    const mounts = await readFile('/proc/self/mounts', 'utf8');
    assert.equal(mounts.includes(work), false, 'nothing stays mounted in the work folder');
    assert.deepEqual(await readdir(work), [], 'the work folder is removed');
    const leftovers = existsSync(out) ? (await readdir(out)).filter((f) => !f.startsWith('.build')) : [];
    assert.deepEqual(leftovers, [], 'no partial box, catalog or build record');
    const ps = (await execa('ps', ['-eo', 'args'])).stdout.split('\n').filter((l) => l.includes(work));
    assert.deepEqual(ps, [], 'no process still works in the build folder');
  });
});
