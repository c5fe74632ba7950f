import assert from 'node:assert/strict';
import {mkdir, readFile, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {after, afterEach, before, beforeEach, describe, test} from 'node:test';
import {execa} from 'execa';
import {box, boxJson, boxBin, tempDir} from '../../helpers/cli.js';
import {qmpSocketPath, readPidFile} from '../../../src/providers/qemu/process.js';
import {waitForExit} from '../../../src/core/processes.js';
import {qmpOnce} from '../../../src/providers/qemu/qmp.js';

/**
 * `box snapshot` on the qemu target without a guest: a real qemu-img on a real qcow2 (halted
 * machine) and a real QEMU with `-machine none` holding the disk (running machine: QMP's
 * snapshot jobs save and load its device state). The disk's content is written and checked
 * with qemu-io (a pattern at offset 0), so a restore that reverts nothing fails.
 */
describe('box snapshot on the qemu target (real qemu-img and QEMU, no guest)', () => {
  let work: Awaited<ReturnType<typeof tempDir>>;
  let project: string;
  let dir: string;
  let disk: string;
  let env: Record<string, string>;
  let qemuPid: number | undefined;

  before(async () => {
    work = await tempDir('box-snap-');
  });
  after(async () => work.cleanup());

  beforeEach(async () => {
    project = path.join(work.dir, `p${Math.random().toString(36).slice(2, 8)}`);
    dir = path.join(project, '.box', 'machines', 'default');
    disk = path.join(dir, 'disk.qcow2');
    await mkdir(dir, {recursive: true});
    await writeFile(path.join(project, 'Boxfile'), 'basebox: blank\ntarget: qemu\n');
    await execa('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '16M']);
    await record({});
    env = {BOX_HOME: path.join(work.dir, 'home')};
  });
  afterEach(async () => {
    if (qemuPid !== undefined) {
      try { process.kill(qemuPid, 'SIGKILL'); } catch { /* gone */ }
      await waitForExit(qemuPid, 5000);
      qemuPid = undefined;
    }
  });

  /** The machine's record, as `box up` leaves it (created, key inserted). */
  async function record(extra: Record<string, unknown>): Promise<void> {
    await writeFile(path.join(dir, 'state.json'), JSON.stringify({
      machine: 'default', target: 'qemu', createdAt: new Date().toISOString(), provisioned: true, upCompleted: true,
      provider: {phase: 'created', disk, baseImage: disk, baseFormat: 'qcow2', pidFile: path.join(dir, 'qemu.pid'), qmpSocket: qmpSocketPath(dir), serialLog: path.join(dir, 'serial.log'), forwardedPorts: [], keyInserted: true, ...extra},
    }));
  }

  /** A QEMU holding the machine's disk as a running machine's does (found by its folder, answering QMP). */
  async function startQemu(extra: Record<string, unknown> = {}, machine = ['-machine', 'none']): Promise<void> {
    const pidFile = path.join(dir, 'qemu.pid');
    await execa('qemu-system-x86_64', [...machine, '-nodefaults', '-display', 'none', '-drive', `file=${disk},if=none,id=disk0,format=qcow2`,
      '-qmp', `unix:${qmpSocketPath(dir)},server=on,wait=off`, '-pidfile', pidFile, '-daemonize']);
    qemuPid = await readPidFile(pidFile);
    await record({pid: qemuPid, ...extra});
  }

  /**
   * Writes the byte pattern at offset 0 of the disk: qemu-io on the file, or through the running
   * QEMU (HMP's qemu-io, whose output goes to QEMU's stdout: checked offline after `quit`).
   */
  async function writePattern(byte: number, running = false): Promise<void> {
    if (running) await qmpOnce<string>(qmpSocketPath(dir), 'human-monitor-command', {'command-line': `qemu-io disk0 "write -P ${byte} 0 64k"`});
    else await execa('qemu-io', ['-c', `write -P ${byte} 0 64k`, disk]);
  }

  async function hasPattern(byte: number): Promise<boolean> {
    return (await execa('qemu-io', ['-c', `read -P ${byte} 0 64k`, disk], {reject: false})).exitCode === 0;
  }

  /** Ends the running QEMU the way that flushes its image (QMP quit). */
  async function quitQemu(): Promise<void> {
    await qmpOnce(qmpSocketPath(dir), 'quit');
    await waitForExit(qemuPid!, 5000);
    qemuPid = undefined;
    await record({});
  }

  const names = async () => (await boxJson(['snapshot', 'list'], {cwd: project, env})).json.machines[0].snapshots.map((s: {name: string}) => s.name);

  test('halted: save, change, restore brings the disk back; list shows it as disk-only; delete removes it', async () => {
    await writePattern(0xaa);
    const saved = await boxJson(['snapshot', 'save', 's1'], {cwd: project, env});
    assert.equal(saved.result.exitCode, 0, String(saved.result.stderr));
    assert.equal(saved.json.machines[0].snapshot.name, 's1');
    assert.equal(saved.json.machines[0].snapshot.withMemory, false);
    await writePattern(0xbb);
    assert.equal(await hasPattern(0xaa), false);
    const restored = await boxJson(['snapshot', 'restore', 's1'], {cwd: project, env});
    assert.equal(restored.result.exitCode, 0, String(restored.result.stderr));
    assert.equal(restored.json.machines[0].live, false);
    assert.equal(await hasPattern(0xaa), true);
    const list = await boxJson(['snapshot', 'list'], {cwd: project, env});
    assert.equal(list.json.machines[0].snapshots.length, 1);
    assert.match(list.json.machines[0].snapshots[0].createdAt, /^\d{4}-\d\d-\d\dT/);
    assert.equal((await box(['snapshot', 'delete', 's1'], {cwd: project, env})).exitCode, 0);
    assert.deepEqual(await names(), []);
    assert.doesNotMatch((await execa('qemu-img', ['snapshot', '-l', disk])).stdout, /s1/);
  });

  test('a duplicate name is refused (exit 2) unless --force replaces it', async () => {
    assert.equal((await box(['snapshot', 'save', 's1'], {cwd: project, env})).exitCode, 0);
    await writePattern(0xcc);
    const again = await boxJson(['snapshot', 'save', 's1'], {cwd: project, env});
    assert.equal(again.result.exitCode, 2);
    assert.equal(again.json.error.code, 'ERR_SNAPSHOT_EXISTS');
    const forced = await boxJson(['snapshot', 'save', 's1', '--force'], {cwd: project, env});
    assert.equal(forced.result.exitCode, 0, String(forced.result.stderr));
    assert.equal(forced.json.machines[0].replaced, true);
    assert.deepEqual(await names(), ['s1']);
    await writePattern(0xdd);
    await box(['snapshot', 'restore', 's1'], {cwd: project, env});
    assert.equal(await hasPattern(0xcc), true, 'the replacement holds the later content');
  });

  test('an unknown name on restore or delete fails (exit 2) naming the snapshots there are; a bad name is a usage error', async () => {
    await box(['snapshot', 'save', 'before'], {cwd: project, env});
    for (const verb of ['restore', 'delete']) {
      const {result, json} = await boxJson(['snapshot', verb, 'nope'], {cwd: project, env});
      assert.equal(result.exitCode, 2);
      assert.equal(json.error.code, 'ERR_SNAPSHOT_UNKNOWN');
      assert.match(json.error.message, /no snapshot named nope; it has before/);
    }
    for (const bad of ['12', 'a b', '-x', '../x']) {
      const result = await box(['snapshot', 'save', '--json', '--', bad], {cwd: project, env});
      const json = JSON.parse(String(result.stdout));
      assert.equal(result.exitCode, 2, bad);
      assert.equal(json.error.code, 'ERR_SNAPSHOT_NAME', bad);
    }
    assert.deepEqual(await names(), ['before']);
  });

  test('push saves under a generated name; pop restores the newest and deletes it (--no-delete keeps it)', async () => {
    await writePattern(0x11);
    const first = await boxJson(['snapshot', 'push'], {cwd: project, env});
    assert.match(first.json.snapshot, /^push-\d+-\d+$/);
    await writePattern(0x22);
    await new Promise((r) => setTimeout(r, 5));
    const second = await boxJson(['snapshot', 'push'], {cwd: project, env});
    await writePattern(0x33);
    const popped = await boxJson(['snapshot', 'pop'], {cwd: project, env});
    assert.equal(popped.result.exitCode, 0, String(popped.result.stderr));
    assert.equal(popped.json.snapshot, second.json.snapshot);
    assert.equal(popped.json.deleted, true);
    assert.equal(await hasPattern(0x22), true);
    assert.deepEqual(await names(), [first.json.snapshot]);
    const kept = await boxJson(['snapshot', 'pop', '--no-delete'], {cwd: project, env});
    assert.equal(kept.json.snapshot, first.json.snapshot);
    assert.equal(await hasPattern(0x11), true);
    assert.deepEqual(await names(), [first.json.snapshot]);
    await box(['snapshot', 'delete', first.json.snapshot], {cwd: project, env});
    const none = await boxJson(['snapshot', 'pop'], {cwd: project, env});
    assert.equal(none.result.exitCode, 2);
    assert.match(none.json.error.message, /No pushed snapshot/);
  });

  test('running: a live save holds memory; a live restore reverts the disk and the QEMU runs on', async () => {
    await startQemu();
    await writePattern(0xaa, true);
    const saved = await boxJson(['snapshot', 'save', 'live1'], {cwd: project, env});
    assert.equal(saved.result.exitCode, 0, String(saved.result.stderr));
    assert.equal(saved.json.machines[0].snapshot.withMemory, true);
    assert.ok(saved.json.machines[0].snapshot.sizeBytes > 0);
    await writePattern(0xbb, true);
    const restored = await boxJson(['snapshot', 'restore', 'live1'], {cwd: project, env});
    assert.equal(restored.result.exitCode, 0, String(restored.result.stderr));
    assert.equal(restored.json.machines[0].live, true);
    assert.equal((await qmpOnce<{status: string}>(qmpSocketPath(dir), 'query-status')).status, 'running');
    assert.equal((await box(['snapshot', 'delete', 'live1'], {cwd: project, env})).exitCode, 0);
    assert.deepEqual(await names(), []);
    await quitQemu();
    assert.equal(await hasPattern(0xaa), true, 'the live restore put the saved disk content back');
  });

  test('a live restore into a QEMU with other RAM or CPUs is refused before loading; a snapshot QEMU still refuses halfway stops the paused guest', async () => {
    const shapes = async () => JSON.parse(await readFile(path.join(dir, 'state.json'), 'utf8')).provider.snapshotShapes;
    const q35 = (memory: number, cpus: number) => ['-machine', 'q35', '-accel', 'tcg', '-smp', String(cpus), '-m', String(memory)];
    await startQemu({}, q35(64, 1));
    await writePattern(0x61, true);
    assert.equal((await box(['snapshot', 'save', 'small'], {cwd: project, env})).exitCode, 0);
    const saved = await shapes();
    assert.deepEqual(saved.small, ['-machine q35', '-accel tcg', '-smp 1', '-m 64']);
    await quitQemu();

    // The Boxfile's memory changed: this QEMU has 128 MiB.
    await startQemu({snapshotShapes: saved}, q35(128, 1));
    await writePattern(0x62, true);
    const refused = await boxJson(['snapshot', 'restore', 'small'], {cwd: project, env});
    assert.equal(refused.result.exitCode, 2, String(refused.result.stderr));
    assert.equal(refused.json.error.code, 'ERR_SNAPSHOT_MISMATCH');
    assert.match(refused.json.error.message, /it was saved with `-m 64`, which this QEMU lacks/);
    assert.equal((await qmpOnce<{status: string}>(qmpSocketPath(dir), 'query-status')).status, 'running', 'the guest runs on untouched');

    // A snapshot whose shape box never recorded (saved by an older box): QEMU refuses halfway,
    // the guest it paused is stopped, and the disk is at the snapshot for the next boot.
    await record({pid: qemuPid, snapshotShapes: {}});
    const failed = await boxJson(['snapshot', 'restore', 'small'], {cwd: project, env});
    assert.equal(failed.result.exitCode, 1, String(failed.result.stderr));
    assert.match(failed.json.error.message, /could not load the memory of snapshot small .*the half-loaded guest was stopped/s);
    assert.equal(await waitForExit(qemuPid!, 10_000), true, 'no paused QEMU is left holding a half-loaded guest');
    qemuPid = undefined;
    assert.equal(await hasPattern(0x61), true, 'the disk is back at the snapshot');
    assert.match(String((await box(['status'], {cwd: project, env})).stdout), /stopped/);

    await box(['snapshot', 'delete', 'small'], {cwd: project, env});
    assert.equal((await shapes())?.small, undefined, 'delete forgets the shape');
  });

  test('a halted restore of a snapshot with memory restores the disk only and says so', async () => {
    await startQemu();
    await writePattern(0x44, true);
    assert.equal((await box(['snapshot', 'save', 'mem'], {cwd: project, env})).exitCode, 0);
    await quitQemu();
    await writePattern(0x55);
    const restored = await boxJson(['snapshot', 'restore', 'mem'], {cwd: project, env});
    assert.equal(restored.result.exitCode, 0, String(restored.result.stderr));
    assert.equal(restored.json.machines[0].live, false);
    assert.match(restored.json.machines[0].note, /only the disk was restored/);
    assert.equal(await hasPattern(0x44), true);
  });

  test('a running machine with a virtiofs folder is refused before anything is saved', async () => {
    await startQemu({sharedFolders: [{type: 'virtiofs', source: project, destination: '/srv', tag: 'f0'}]});
    const {result, json} = await boxJson(['snapshot', 'save', 's1'], {cwd: project, env});
    assert.equal(result.exitCode, 2);
    assert.equal(json.error.code, 'ERR_SNAPSHOT_UNSAVABLE');
    assert.match(json.error.message, /virtiofs synced folders \(\/srv\)/);
    assert.deepEqual(await names(), []);
  });

  /** A qemu-img that takes its time over `snapshot -c|-a` (so a Ctrl-C lands during it), then does it. */
  async function slowQemuImg(): Promise<Record<string, string>> {
    const bin = path.join(work.dir, 'slow-bin');
    await mkdir(bin, {recursive: true});
    const real = (await execa('sh', ['-c', 'command -v qemu-img'])).stdout;
    await writeFile(path.join(bin, 'qemu-img'), `#!/bin/sh\ncase "$1 $2" in "snapshot -c"|"snapshot -a") : > "${bin}/started"; sleep 2;; esac\nexec "${real}" "$@"\n`, {mode: 0o755});
    return {...env, PATH: `${bin}:${process.env.PATH}`};
  }

  /** Runs box, sends SIGINT to it once the slow qemu-img started, and returns how it ended. */
  async function interrupted(args: string[], slowEnv: Record<string, string>): Promise<{exitCode?: number; stderr: string}> {
    const started = path.join(work.dir, 'slow-bin', 'started');
    await execa('rm', ['-f', started]);
    const child = execa(process.execPath, [boxBin, ...args], {cwd: project, env: {NO_COLOR: '1', ...slowEnv}, reject: false});
    for (let i = 0; i < 200 && !(await readFile(started).then(() => true, () => false)); i++) await new Promise((r) => setTimeout(r, 50));
    child.kill('SIGINT');
    const result = await child;
    return {exitCode: result.exitCode, stderr: String(result.stderr)};
  }

  test('SIGINT during a save: the save finishes, is deleted again, exit 130; the list is true and the disk sound', async () => {
    const slow = await slowQemuImg();
    const result = await interrupted(['snapshot', 'save', 'cut'], slow);
    assert.equal(result.exitCode, 130, result.stderr);
    assert.match(result.stderr, /deleting the snapshot cut/);
    assert.deepEqual(await names(), []);
    await execa('qemu-img', ['check', disk]);
    assert.equal((await box(['snapshot', 'save', 'cut'], {cwd: project, env})).exitCode, 0, 'the name is free again');
  });

  test('SIGINT during a restore: the restore finishes, exit 130; the snapshot stays listed and the disk holds its content', async () => {
    await writePattern(0x66);
    assert.equal((await box(['snapshot', 'save', 'keep'], {cwd: project, env})).exitCode, 0);
    await writePattern(0x77);
    const result = await interrupted(['snapshot', 'restore', 'keep'], await slowQemuImg());
    assert.equal(result.exitCode, 130, result.stderr);
    assert.deepEqual(await names(), ['keep']);
    await execa('qemu-img', ['check', disk]);
    assert.equal(await hasPattern(0x66), true);
    const status = await boxJson(['status'], {cwd: project, env});
    assert.equal(status.json.machines[0].status, 'stopped');
  });
});
