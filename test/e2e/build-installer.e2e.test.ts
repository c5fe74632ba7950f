import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {execa, type ResultPromise} from 'execa';
import {existsSync, readFileSync} from 'node:fs';
import {mkdir, readFile, readdir} from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import {boxBin, repoRoot, tempDir} from '../helpers/cli.js';
import {takeE2eSlot} from '../helpers/e2e-slot.js';
import {makeInstallerIso} from '../fixtures/installer-iso/make-iso.js';

/**
 * The installer half of `box build`, for real: the Debian 12 netboot installer on a tiny ISO
 * whose isolinux prompt waits forever. box must boot it under QEMU, TYPE the boot command over
 * QMP, serve the rendered preseed, and the installer must fetch it and go on; then Ctrl-C must
 * leave nothing behind. (No install can finish here: Debian's mirror answers 404 for .udebs.)
 */
const templateDir = path.join(repoRoot, 'test', 'fixtures', 'installer-iso', 'template');

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie (exited, not yet reaped) counts as gone.
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

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Strips terminal escapes the installer's screen session writes to the serial console. */
function plain(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\x1b[()][A-Z0-9]/g, '');
}

interface Run {
  child: ResultPromise;
  stderr: () => string;
  tmp: string;
}

function startBuild(args: string[], env: Record<string, string>): Run {
  let stderr = '';
  const child = execa(process.execPath, [boxBin, 'build', templateDir, ...args], {cwd: repoRoot, env: {NO_COLOR: '1', ...env}, reject: false, stdin: 'ignore'});
  child.stderr?.on('data', (c: Buffer) => { stderr += c.toString(); });
  return {child, stderr: () => stderr, tmp: env.TMPDIR};
}

describe('box build with an installer ISO (Debian netboot under TCG)', {timeout: 15 * 60_000}, () => {
  let release: (() => Promise<void>) | undefined;
  let work: {dir: string; cleanup: () => Promise<void>};
  let iso: {path: string; sha256: string};
  const leftovers: number[] = [];

  before(async () => {
    release = await takeE2eSlot();
    work = await tempDir('box-e2e-installer-');
    iso = await makeInstallerIso(path.join(work.dir, 'netboot.iso'));
  });

  after(async () => {
    for (const pid of leftovers) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    await work?.cleanup();
    await release?.();
  });

  test('the installer fetches our rendered preseed after the typed boot command, goes on past preseeding, and Ctrl-C leaves nothing behind', async () => {
    const tmp = path.join(work.dir, 'tmp-a');
    await mkdir(tmp);
    const output = path.join(work.dir, 'out-a');
    const marker = `m${Date.now().toString(36)}`;
    const build = startBuild(['--var', `iso_path=${iso.path}`, '--var', `iso_sha256=${iso.sha256}`, '--var', `marker=${marker}`, '--output', output],
      {BOX_HOME: path.join(work.dir, 'home-a'), TMPDIR: tmp});
    try {
      const serialLog = await until('the serial log path on stderr', 120_000, () => /serial log: (\S+)/.exec(build.stderr())?.[1]);
      const qemuPid = Number(await until('the qemu pid on stderr', 5000, () => /qemu pid: (\d+)/.exec(build.stderr())?.[1]));
      leftovers.push(qemuPid);
      const httpPort = Number(await until('the HTTP server port on stderr', 5000, () => /answer files: http:\/\/127\.0\.0\.1:(\d+)\//.exec(build.stderr())?.[1]));

      // Our server's request log: the installer (from 10.0.2.2 = the host's loopback) got preseed.cfg.
      await until('GET /preseed.cfg in the HTTP request log', 6 * 60_000, () => (/http: GET \/preseed\.cfg 200 \d+ B/.test(build.stderr()) ? true : undefined));
      assert.match(build.stderr(), /typing \d+ keys \(20 ms apart\): install auto=true priority=critical url=http:\/\/10\.0\.2\.2:\d+\/preseed\.cfg/);
      // box says so once its wait sees the request, a moment after the server logged it.
      await until('"the installer fetched preseed.cfg" on stderr', 30_000, () => (/the installer fetched preseed\.cfg/.test(build.stderr()) ? true : undefined));

      // The rendered preseed ran (its early_command echoes our marker) and the installer moved
      // on to its mirror check / component download: later stages, read on the serial console.
      const console = await until('a later installer stage on the serial console', 4 * 60_000, async () => {
        const text = plain(await readFile(serialLog, 'utf8').catch(() => ''));
        return text.includes(`BOX-MARKER-${marker}`) && /Checking the Debian archive mirror|Loading additional components|Download installer components/.test(text) ? text : undefined;
      });
      assert.ok(console.indexOf(`BOX-MARKER-${marker}`) < console.search(/Checking the Debian archive mirror|Loading additional components/), 'the later stage comes after our preseed ran');
      assert.ok(pidAlive(qemuPid), 'QEMU is running while the build waits for SSH');
      assert.ok(await portOpen(httpPort), 'the answer-file server is listening during the build');

      build.child.kill('SIGINT');
      const result = await build.child;
      assert.equal(result.exitCode, 130, `exit code after Ctrl-C (stderr:\n${build.stderr()})`);
      assert.equal(pidAlive(qemuPid), false, 'no QEMU process is left');
      assert.equal(await portOpen(httpPort), false, 'no HTTP server is left listening');
      assert.deepEqual((await readdir(tmp)).filter((f) => f.startsWith('box-')), [], 'no work folder (disk, qmp socket, serial log) is left');
      const out = existsSync(output) ? (await readdir(output)).filter((f) => !f.startsWith('.build')) : [];
      assert.deepEqual(out, [], 'no box, partial box or catalog was written');
    } finally {
      build.child.kill('SIGKILL');
      await build.child;
    }
  });

  test('--on-error abort keeps the failed build VM running and prints how to reach it', async () => {
    const tmp = path.join(work.dir, 'tmp-b');
    await mkdir(tmp);
    // The fetch can never happen within 2 s of typing: the step fails while the VM runs.
    const build = startBuild(['--var', `iso_path=${iso.path}`, '--var', `iso_sha256=${iso.sha256}`, '--var', 'fetch_timeout=2s', '--on-error', 'abort', '--output', path.join(work.dir, 'out-b')],
      {BOX_HOME: path.join(work.dir, 'home-b'), TMPDIR: tmp});
    const result = await build.child;
    const stderr = build.stderr();
    const qemuPid = Number(/qemu pid: (\d+)/.exec(stderr)?.[1]);
    if (qemuPid) leftovers.push(qemuPid);
    assert.equal(result.exitCode, 1, stderr);
    assert.match(stderr, /did not fetch \/preseed\.cfg .* within 2 s/);
    assert.match(stderr, /firewall/);
    assert.match(stderr, /build VM kept for debugging/);
    const qmp = /qmp socket: (\S+)/.exec(stderr.slice(stderr.indexOf('kept for debugging')))?.[1];
    assert.ok(qmp && existsSync(qmp), `the qmp socket it names exists: ${qmp}`);
    assert.match(stderr.slice(stderr.indexOf('kept for debugging')), /serial log: \S+serial\.log/);
    assert.match(stderr.slice(stderr.indexOf('kept for debugging')), /ssh: 127\.0\.0\.1:\d+/);
    assert.ok(pidAlive(qemuPid), 'the VM is still running');
    process.kill(qemuPid, 'SIGKILL');
  });
});
