import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {existsSync, readFileSync} from 'node:fs';
import {mkdir, readdir} from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import {buildBox} from '../../src/services/build.js';
import {Ui} from '../../src/core/ui.js';
import {repoRoot, tempDir} from '../helpers/cli.js';
import {takeE2eSlot} from '../helpers/e2e-slot.js';
import {makeInstallerIso} from '../fixtures/installer-iso/make-iso.js';

/**
 * Ctrl-C at every step of an installer build, against real QEMU: the cleanups run in reverse
 * and leave no QEMU process, no listening answer server, no work folder and no output.
 */
const templateDir = path.join(repoRoot, 'test', 'fixtures', 'installer-iso', 'template');
const STEPS = ['download-iso', 'render-answers', 'create-disk', 'boot', 'boot-wait', 'type-boot-command', 'wait-for-answer-fetch'];

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !/ Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\)/s, ''));
  } catch {
    return false;
  }
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createConnection({host: '127.0.0.1', port});
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

describe('Ctrl-C during an installer build', {timeout: 10 * 60_000}, () => {
  let release: (() => Promise<void>) | undefined;
  let work: {dir: string; cleanup: () => Promise<void>};
  let iso: {path: string; sha256: string};
  const savedHome = process.env.BOX_HOME;
  const pids: number[] = [];

  before(async () => {
    release = await takeE2eSlot();
    work = await tempDir('box-e2e-interrupts-');
    process.env.BOX_HOME = path.join(work.dir, 'home');
    iso = await makeInstallerIso(path.join(work.dir, 'netboot.iso'));
  });

  after(async () => {
    for (const pid of pids) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    process.env.BOX_HOME = savedHome;
    await work?.cleanup();
    await release?.();
  });

  for (const [index, step] of STEPS.entries()) {
    test(`cancelling in ${step} runs the cleanups and leaves nothing behind`, async () => {
      const workRoot = path.join(work.dir, `work-${index}`);
      const output = path.join(work.dir, `out-${index}`);
      await mkdir(workRoot);
      const controller = new AbortController();
      const lines: string[] = [];
      const stream = {isTTY: false, write: (text: string) => {
        lines.push(text);
        // Cancel shortly after the step starts (at once for the quick ones).
        if (text.includes(`==> ${step}\n`)) setTimeout(() => controller.abort(), ['boot-wait', 'type-boot-command', 'wait-for-answer-fetch'].includes(step) ? 700 : 0);
        return true;
      }} as unknown as NodeJS.WriteStream;
      const started: string[] = [];
      await assert.rejects(buildBox({
        template: templateDir,
        vars: {iso_path: iso.path, iso_sha256: iso.sha256, fetch_timeout: '5m'},
        outputDir: output,
        workRoot,
        ui: new Ui({stream}),
        signal: controller.signal,
      }), (error: Error & {code?: string}) => {
        assert.equal(error.code, 'ERR_INTERRUPTED', `${error.message}\n${lines.join('')}`);
        return true;
      });
      const log = lines.join('');
      for (const m of log.matchAll(/==> (\S+)/g)) started.push(m[1]);
      assert.equal(started.at(-1), step, `cancelled in ${step} (stages: ${started.join(', ')})`);
      const qemuPid = Number(/qemu pid: (\d+)/.exec(log)?.[1] ?? 0);
      if (qemuPid) {
        pids.push(qemuPid);
        assert.equal(pidAlive(qemuPid), false, 'QEMU is gone');
      }
      const httpPort = Number(/answer files: http:\/\/127\.0\.0\.1:(\d+)\//.exec(log)?.[1] ?? 0);
      if (httpPort) assert.equal(await portOpen(httpPort), false, 'the answer server is closed');
      assert.equal(Boolean(qemuPid), STEPS.indexOf(step) >= STEPS.indexOf('boot'), 'QEMU was started exactly when the boot step ran');
      assert.deepEqual(await readdir(workRoot), [], 'the work folder (disk, sockets, logs) is removed');
      const out = existsSync(output) ? (await readdir(output)).filter((f) => !f.startsWith('.build')) : [];
      assert.deepEqual(out, [], 'no box, partial box or catalog');
    });
  }

  test('a build VM that dies while waiting for the answer fetch fails at once with its serial log, not after the timeout', async () => {
    const workRoot = path.join(work.dir, 'work-died');
    await mkdir(workRoot);
    let log = '';
    const stream = {isTTY: false, write: (text: string) => {
      log += text;
      if (text.includes('==> wait-for-answer-fetch\n')) {
        const pid = Number(/qemu pid: (\d+)/.exec(log)?.[1]);
        pids.push(pid);
        process.kill(pid, 'SIGKILL');
      }
      return true;
    }} as unknown as NodeJS.WriteStream;
    const t0 = Date.now();
    await assert.rejects(buildBox({
      template: templateDir,
      vars: {iso_path: iso.path, iso_sha256: iso.sha256, fetch_timeout: '5m'},
      outputDir: path.join(work.dir, 'out-died'), workRoot, ui: new Ui({stream}), signal: new AbortController().signal,
    }), (error: Error & {code?: string}) => {
      assert.equal(error.code, 'ERR_QEMU_EXITED', error.message);
      assert.match(error.message, /exited before the installer fetched preseed\.cfg/);
      return true;
    });
    assert.ok(Date.now() - t0 < 60_000, 'it did not wait for the 5 minute timeout');
    assert.deepEqual(await readdir(workRoot), [], 'the work folder is removed');
  });
});
