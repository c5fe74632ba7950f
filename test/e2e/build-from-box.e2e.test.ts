/**
 * `box build` from an existing box, end to end with a REAL guest under TCG: the debootstrap test
 * box is the source; debian-12-custom installs curl from Debian's mirror in a post-install
 * script; the new box is added to the store, booted with `box up`, and `box ssh -c` finds curl.
 * Two boots in all (build VM, then the new box).
 */
import assert from 'node:assert/strict';
import {existsSync, readFileSync} from 'node:fs';
import {mkdir, readdir, writeFile} from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {box, boxJson, tempDir} from '../helpers/cli.js';
import {takeE2eSlot} from '../helpers/e2e-slot.js';
import {Ui} from '../../src/core/ui.js';
import {pidAlive} from '../../src/core/processes.js';
import {buildBox} from '../../src/services/build.js';
import {addTestBox, ensureTestBox} from '../helpers/test-box.js';
import {qemuProcesses} from '../helpers/qemu-processes.js';

describe('box build from an existing box with a real guest', {timeout: 30 * 60_000}, () => {
  let release: () => Promise<void>;
  let home: Awaited<ReturnType<typeof tempDir>>;
  let project: Awaited<ReturnType<typeof tempDir>>;
  let output: Awaited<ReturnType<typeof tempDir>>;
  let work: Awaited<ReturnType<typeof tempDir>>;
  // Work folders go under `work` (TMPDIR) so the test can see that none is left behind.
  const env = (): Record<string, string> => ({TMPDIR: work.dir});

  before(async () => {
    release = await takeE2eSlot();
    await ensureTestBox();
    home = await tempDir('box-e2e-home-');
    project = await tempDir('box-e2e-project-');
    output = await tempDir('box-e2e-output-');
    work = await tempDir('box-e2e-work-');
    await addTestBox(home.dir);
  });

  after(async () => {
    if (project) {
      await box(['destroy', '--force'], {cwd: project.dir, boxHome: home.dir}).catch(() => undefined);
      for (const pid of qemuProcesses(project.dir)) process.kill(pid, 'SIGKILL');
      await project.cleanup();
    }
    if (work) for (const pid of qemuProcesses(work.dir)) process.kill(pid, 'SIGKILL');
    await output?.cleanup();
    await work?.cleanup();
    await home?.cleanup();
    await release?.();
  });

  test('the build boots the source box, runs the post-install scripts and adds a new box', async () => {
    const {result, json} = await boxJson(['build', 'debian-12-custom', '--output', output.dir, '--add', '--json'], {boxHome: home.dir, env: env(), timeoutMs: 20 * 60_000});
    assert.equal(result.exitCode, 0, `${String(result.stderr)}\n${String(result.stdout)}`);
    assert.equal(json.method, 'box');
    assert.equal(json.cacheHit, false);
    assert.deepEqual(json.added, {name: 'debian-12-custom', version: '12.0.0', provider: 'libvirt'});
    assert.match(json.box.sha256, /^[0-9a-f]{64}$/);
    assert.ok(existsSync(json.box.path));
    for (const step of ['resolve-source', 'create-overlay', 'boot', 'wait-for-ssh', 'post-install', 'extract-kernel', 'shutdown', 'compress', 'package', 'catalog']) {
      assert.ok(json.steps.some((s: {name: string}) => s.name === step), `step ${step} ran`);
    }
    // The post-install script streamed its output.
    assert.match(String(result.stderr), /installed: curl/);
    // No build VM and no work folder outlive the build.
    assert.deepEqual(qemuProcesses(work.dir), []);
    assert.deepEqual(await readdir(work.dir), []);

    // The new box carries a fresh kernel for direct boot and names its source.
    const {json: list} = await boxJson(['box', 'list', '--json'], {boxHome: home.dir});
    assert.ok(JSON.stringify(list).includes('debian-12-custom'));
    const meta = JSON.parse(readFileSync(path.join(home.dir, 'boxes', 'debian-12-custom', '12.0.0', 'libvirt', 'metadata.json'), 'utf8'));
    assert.equal(meta.kernel, 'vmlinuz');
    assert.match(meta.kernel_version, /^\d+\.\d+/);
    assert.equal(meta.source_box.name, 'debian-12-minimal');
    assert.equal(meta.box_build.method, 'box');
  });

  test('an identical second build answers from the cache without booting', async () => {
    const {result, json} = await boxJson(['build', 'debian-12-custom', '--output', output.dir, '--json'], {boxHome: home.dir, env: env(), timeoutMs: 60_000});
    assert.equal(result.exitCode, 0, String(result.stderr));
    assert.equal(json.cacheHit, true);
    assert.ok(json.totalMs < 5000, `cache hit took ${json.totalMs} ms`);
  });

  test('box up of the new box boots it and the post-install effect is there', async () => {
    const run = (args: string[]) => box(args, {cwd: project.dir, boxHome: home.dir, timeoutMs: 300_000});
    const init = await run(['init', '--basebox', 'debian-12-custom', '--target', 'qemu']);
    assert.equal(init.exitCode, 0, String(init.stderr));
    const up = await run(['up']);
    assert.equal(up.exitCode, 0, `${String(up.stderr)}\n${String(up.stdout)}`);
    const ssh = await run(['ssh', '-c', 'command -v curl && curl --version | head -n 1']);
    assert.equal(ssh.exitCode, 0, String(ssh.stderr));
    assert.match(String(ssh.stdout), /\/usr\/bin\/curl/);
    const destroy = await run(['destroy', '--force']);
    assert.equal(destroy.exitCode, 0, String(destroy.stderr));
    assert.deepEqual(qemuProcesses(project.dir), []);
  });
  test('Ctrl-C during a post-install script stops the build VM and leaves no overlay, work folder or box', async () => {
    const templateDir = path.join(work.dir, 'tpl-interrupt');
    const workRoot = path.join(work.dir, 'work-interrupt');
    const out = path.join(work.dir, 'out-interrupt');
    await mkdir(templateDir, {recursive: true});
    await mkdir(workRoot);
    await writeFile(path.join(templateDir, 'template.yaml'), 'method: box\nsource: debian-12-minimal\nssh: {timeout: 10m}\npost_install:\n  - inline: ["echo now-sleeping", "sleep 600"]\n');
    const controller = new AbortController();
    let log = '';
    const stream = {isTTY: false, write: (text: string) => {
      log += text;
      if (text.includes('now-sleeping')) controller.abort();
      return true;
    }} as unknown as NodeJS.WriteStream;
    const saved = process.env.BOX_HOME;
    process.env.BOX_HOME = home.dir;
    try {
      await assert.rejects(buildBox({template: templateDir, outputDir: out, workRoot, ui: new Ui({stream}), signal: controller.signal}), (error: Error & {code?: string}) => {
        assert.equal(error.code, 'ERR_INTERRUPTED', `${error.message}\n${log}`);
        return true;
      });
    } finally {
      if (saved === undefined) delete process.env.BOX_HOME;
      else process.env.BOX_HOME = saved;
    }
    const qemuPid = Number(/qemu pid: (\d+)/.exec(log)?.[1] ?? 0);
    assert.ok(qemuPid > 0, log);
    assert.equal(pidAlive(qemuPid), false, 'QEMU is gone');
    assert.deepEqual(await readdir(workRoot), [], 'the work folder (overlay, sockets, logs) is removed');
    const left = existsSync(out) ? (await readdir(out)).filter((f) => !f.startsWith('.build')) : [];
    assert.deepEqual(left, [], 'no box, partial box or catalog');
  });
  test('--on-error abort keeps the failed build VM running and says how to reach it', async () => {
    const templateDir = path.join(work.dir, 'tpl-abort');
    await mkdir(templateDir, {recursive: true});
    await writeFile(path.join(templateDir, 'template.yaml'), 'method: box\nsource: debian-12-minimal\nssh: {timeout: 10m}\npost_install:\n  - inline: ["echo failing-on-purpose", "exit 3"]\n');
    const abortWork = path.join(work.dir, 'work-abort');
    await mkdir(abortWork);
    const {result, json} = await boxJson(['build', templateDir, '--output', path.join(work.dir, 'out-abort'), '--on-error', 'abort', '--json'], {boxHome: home.dir, env: {TMPDIR: abortWork}, timeoutMs: 10 * 60_000});
    const stderr = String(result.stderr);
    const pid = Number(/qemu pid: (\d+)/.exec(stderr)?.[1] ?? 0);
    try {
      assert.notEqual(result.exitCode, 0);
      assert.equal(json.error.code, 'ERR_POST_INSTALL', stderr);
      assert.match(stderr, /build VM kept for debugging \(stop it with: kill \d+/);
      const port = Number(/ssh -p (\d+) vagrant@127\.0\.0\.1/.exec(stderr)?.[1] ?? 0);
      assert.ok(pid > 0 && pidAlive(pid), 'QEMU still runs');
      // The kept VM still answers on the SSH port printed for the user.
      const banner = await new Promise<string>((resolve) => {
        const socket = net.connect({host: '127.0.0.1', port}, () => undefined);
        socket.setTimeout(10_000, () => { socket.destroy(); resolve(''); });
        socket.once('data', (d) => { socket.destroy(); resolve(d.toString('latin1')); });
        socket.on('error', () => resolve(''));
      });
      assert.match(banner, /^SSH-2\.0-/);
    } finally {
      if (pid && pidAlive(pid)) process.kill(pid, 'SIGKILL');
    }
  });
});
