import assert from 'node:assert/strict';
import {execFileSync} from 'node:child_process';
import {existsSync} from 'node:fs';
import {mkdtemp, open, rm} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {execa} from 'execa';
import {buildQemuArgs} from '../../../src/providers/qemu/args.js';
import {qmpOnce} from '../../../src/providers/qemu/qmp.js';
import {readPidFile} from '../../../src/providers/qemu/process.js';
import {waitForExit} from '../../../src/core/processes.js';
import {comparableLaunch, incomingUri, outgoingUri, loadGuestState, refuseUnsavable, resumeMismatch, saveGuestState, suspendQemu, type SuspendedRecord} from '../../../src/providers/qemu/suspend.js';

const spec = {
  name: 'box-p-web', machineType: 'q35', accel: 'tcg' as const, cpus: 2, memoryMiB: 512, disk: '/p/.box/machines/web/disk.qcow2',
  qmpSocket: '/p/qmp.sock', pidFile: '/p/qemu.pid', serialLog: '/p/serial.log', sshPort: 2222, forwardedPorts: [], extraArgs: [],
};

describe('qemu suspend: arguments and checks', () => {
  test('-incoming comes last, and a launch compares equal across a new SSH port and -incoming', () => {
    const boot = buildQemuArgs(spec);
    const resume = buildQemuArgs({...spec, sshPort: 40_001, incoming: 'defer'});
    assert.deepEqual(resume.slice(-2), ['-incoming', 'defer']);
    assert.ok(!boot.includes('-incoming'));
    assert.deepEqual(comparableLaunch(resume, 40_001), comparableLaunch(boot, 2222));
    assert.ok(comparableLaunch(boot, 2222).some((a) => a.includes('hostfwd=tcp:127.0.0.1:SSH_PORT-:22')));
  });

  test('a change of memory, devices, binary or box image is a mismatch that names it', () => {
    const id = {path: '/usr/bin/qemu-system-x86_64', size: 10, mtimeMs: 1};
    const base = {path: '/b/box.img', size: 20, mtimeMs: 2};
    const saved: SuspendedRecord = {file: '/p/suspend.state', at: '', bytes: 1, launch: comparableLaunch(buildQemuArgs(spec), 2222), binary: id, baseImage: base};
    assert.equal(resumeMismatch(saved, {launch: comparableLaunch(buildQemuArgs({...spec, sshPort: 3333}), 3333), binary: id, baseImage: base}), undefined);
    assert.match(resumeMismatch(saved, {launch: comparableLaunch(buildQemuArgs({...spec, memoryMiB: 1024}), 2222), binary: id, baseImage: base})!, /QEMU arguments changed.*"1024"/);
    assert.match(resumeMismatch(saved, {launch: saved.launch, binary: {...id, mtimeMs: 5}, baseImage: base})!, /QEMU binary changed/);
    assert.match(resumeMismatch(saved, {launch: saved.launch, binary: id, baseImage: {...base, size: 21}})!, /box image .* changed/);
  });

  test('migration URIs quote the path for the shell QEMU runs them with', () => {
    assert.equal(outgoingUri('/p/a b/suspend.state'), "exec:cat > '/p/a b/suspend.state'");
    assert.equal(incomingUri("/p/it's/s"), "exec:cat '/p/it'\\''s/s'");
  });

  test('a virtiofs or 9p folder is refused with ERR_SUSPEND_UNSUPPORTED (usage, exit 2) naming it; rsync is fine', () => {
    assert.doesNotThrow(() => refuseUnsavable('web', [{type: 'rsync', destination: '/b'}], 'virtio'));
    for (const type of ['virtiofs', '9p']) {
      assert.throws(() => refuseUnsavable('web', [{type, destination: '/srv/code'}, {type: 'rsync', destination: '/b'}]), (error: {code: string; exitCode: number; message: string}) => {
        assert.equal(error.code, 'ERR_SUSPEND_UNSUPPORTED');
        assert.equal(error.exitCode, 2);
        assert.match(error.message, new RegExp(`web cannot be suspended: it has ${type} synced folders \\(/srv/code\\).*Nothing was changed`));
        return true;
      });
    }
  });

  test('a machine whose disk is on NVMe is refused (QEMU 7.2 cannot save an NVMe controller), before anything is touched', () => {
    assert.throws(() => refuseUnsavable('web', [], 'nvme'), (error: {code: string; exitCode: number; message: string}) => {
      assert.equal(error.code, 'ERR_SUSPEND_UNSUPPORTED');
      assert.equal(error.exitCode, 2);
      assert.match(error.message, /web cannot be suspended: its disk is on an NVMe controller.*Nothing was changed/);
      return true;
    });
  });
});

/**
 * A real QEMU with RAM but no guest code (nothing to boot: -nodefaults, no disk), so the
 * migration stream is QEMU's own and the save/cancel paths run for real in a second or two.
 */
describe('qemu suspend: saving state from a real QEMU', {timeout: 120_000}, () => {
  let dir: string;
  let pid: number | undefined;
  let sock: string;
  /** Every QEMU a test started, killed by `after` whatever happened. */
  const started: number[] = [];
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'box-suspend-'));
  });
  after(async () => {
    for (const p of started) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
    await rm(dir, {recursive: true, force: true});
  });

  async function startQemu(name: string, extra: string[] = []): Promise<void> {
    sock = path.join(dir, `${name}.sock`);
    const pidFile = path.join(dir, `${name}.pid`);
    await execa('qemu-system-x86_64', ['-machine', 'pc', '-accel', 'tcg', '-m', '64', '-nodefaults', '-display', 'none', '-qmp', `unix:${sock},server=on,wait=off`, '-pidfile', pidFile, '-daemonize', ...extra]);
    pid = await readPidFile(pidFile);
    started.push(pid!);
  }

  async function startQemuWith(name: string, args: string[]): Promise<void> {
    sock = path.join(dir, `${name}.sock`);
    const pidFile = path.join(dir, `${name}.pid`);
    await execa('qemu-system-x86_64', [...args, '-qmp', `unix:${sock},server=on,wait=off`, '-pidfile', pidFile, '-daemonize']);
    pid = await readPidFile(pidFile);
    started.push(pid!);
  }

  async function stopQemu(): Promise<void> {
    await qmpOnce(sock, 'quit').catch(() => undefined);
    await waitForExit(pid!, 5000);
    pid = undefined;
  }

  test('saves the state to the file and leaves QEMU paused after the completed stream', async () => {
    await startQemu('save');
    const file = path.join(dir, 'save.state');
    const saved = await saveGuestState(sock, file, new AbortController().signal);
    assert.ok(existsSync(file));
    assert.ok(!existsSync(`${file}.partial`));
    assert.ok(saved.bytes > 1000, `state of ${saved.bytes} bytes`);
    assert.equal((await qmpOnce<{status: string}>(sock, 'query-migrate')).status, 'completed');
    assert.equal((await qmpOnce<{status: string}>(sock, 'query-status')).status, 'postmigrate');
    await stopQemu();
    // The resume half: the same arguments plus -incoming defer, then the file; the guest runs.
    await startQemu('save', ['-incoming', 'defer']);
    assert.equal((await qmpOnce<{status: string}>(sock, 'query-status')).status, 'inmigrate');
    await loadGuestState(sock, pid!, file, 'web', 30_000, new AbortController().signal);
    assert.equal((await qmpOnce<{status: string}>(sock, 'query-status')).status, 'running');
    await stopQemu();
  });

  test('a state that does not fit the QEMU fails the resume with ERR_RESUME_FAILED and keeps the file', async () => {
    await startQemu('small');
    const file = path.join(dir, 'small.state');
    await saveGuestState(sock, file, new AbortController().signal);
    await stopQemu();
    // Saved with -m 64; this QEMU has other memory: QEMU refuses the stream and exits.
    await startQemuWith('mismatch', ['-machine', 'pc', '-accel', 'tcg', '-m', '128', '-nodefaults', '-display', 'none', '-incoming', 'defer']);
    await assert.rejects(loadGuestState(sock, pid!, file, 'web', 30_000, new AbortController().signal), (error: {code: string; message: string}) => {
      assert.equal(error.code, 'ERR_RESUME_FAILED');
      assert.match(error.message, /web could not be resumed: .*saved state is kept at/);
      return true;
    });
    assert.ok(existsSync(file));
  });

  test('Ctrl-C while the stream is written cancels it: the guest runs again and no file is left', async () => {
    await startQemu('cancel');
    const file = path.join(dir, 'cancel.state');
    // A FIFO read slowly (4 KiB every 50 ms) keeps the stream in flight when the Ctrl-C comes.
    execFileSync('mkfifo', [`${file}.partial`]);
    const reader = (async () => {
      const fd = await open(`${file}.partial`, 'r');
      const chunk = Buffer.alloc(4096);
      let total = 0;
      try {
        for (;;) {
          const {bytesRead} = await fd.read(chunk, 0, chunk.length, null);
          if (bytesRead === 0) return total;
          total += bytesRead;
          await new Promise((r) => setTimeout(r, 50));
        }
      } finally {
        await fd.close();
      }
    })();
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 1500);
    await assert.rejects(saveGuestState(sock, file, ac.signal), (error: {code: string; exitCode: number}) => {
      assert.equal(error.code, 'ERR_INTERRUPTED');
      assert.equal(error.exitCode, 130);
      return true;
    });
    assert.equal((await qmpOnce<{status: string}>(sock, 'query-status')).status, 'running');
    assert.equal((await qmpOnce<{status: string}>(sock, 'query-migrate')).status, 'cancelled');
    assert.ok(await reader > 0, 'the stream had started when it was cancelled');
    assert.ok(!existsSync(file));
    assert.ok(!existsSync(`${file}.partial`));
    await stopQemu();
  });
});

describe('qemu suspend: refusals change nothing', () => {
  test('a machine with a virtiofs folder is refused before its QEMU is asked anything or its record patched', async () => {
    const patched: unknown[] = [];
    const ctx = {machine: {name: 'web', syncedFolders: [{type: 'virtiofs', destination: '/srv/code'}]}, dir: '/nonexistent', signal: new AbortController().signal, ui: {stage: () => undefined}} as never;
    await assert.rejects(
      suspendQemu(ctx, {q: {sshPort: 2222, baseImage: '/nonexistent/box.img'}, pid: process.pid, files: {qmpSocket: '/nonexistent/qmp.sock', pidFile: '/nonexistent/qemu.pid'}}, async (change) => { patched.push(change); }),
      /cannot be suspended: it has virtiofs synced folders/,
    );
    assert.deepEqual(patched, []);
  });

  test('a machine with no live QEMU is refused as not running', async () => {
    const ctx = {machine: {name: 'web', syncedFolders: []}, dir: '/nonexistent', signal: new AbortController().signal, ui: {stage: () => undefined}} as never;
    await assert.rejects(
      suspendQemu(ctx, {q: {sshPort: 2222, baseImage: '/x'}, pid: undefined, files: {qmpSocket: '/x', pidFile: '/x'}}, async () => undefined),
      (error: {code: string}) => error.code === 'ERR_NOT_RUNNING',
    );
  });
});
