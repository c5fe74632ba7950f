import assert from 'node:assert/strict';
import {existsSync} from 'node:fs';
import {mkdir, mkdtemp, rm, stat, writeFile} from 'node:fs/promises';
import {setTimeout as sleep} from 'node:timers/promises';
import os from 'node:os';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {execa} from 'execa';
import {checkSnapshot, cloneBaseFor, internalSnapshots, makeCloneBase, type QemuCloneRecord} from '../../../src/providers/qemu/clone.js';
import {machineLockHeld, withMachineLock} from '../../../src/core/state.js';
import {createOverlay} from '../../../src/providers/qemu/qemu-img.js';
import {baseBlockdev, BASE_NODE, CLONE_BOX_NODE} from '../../../src/providers/qemu/args.js';

const MiB = 1024 * 1024;
/** qemu-io on an image: writes or checks a pattern at an offset (real I/O through QEMU's block layer). */
const io = (file: string, command: string) => execa('qemu-io', ['-f', 'qcow2', '-c', command, file], {reject: false});

describe('clone bases (real qemu-img)', () => {
  let dir: string;
  const box = () => path.join(dir, 'box.img');
  const source = () => path.join(dir, 'source.qcow2');
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'box-clone-'));
    await execa('qemu-img', ['create', '-q', '-f', 'qcow2', box(), '256M']);
    await io(box(), 'write -P 0x11 0 32M');
    await createOverlay(box(), source(), {baseFormat: 'qcow2', sizeBytes: 256 * MiB});
    await io(source(), 'write -P 0xaa 64M 1M');
    await execa('qemu-img', ['snapshot', '-c', 's1', source()]);
    // After the snapshot the source moves on: the clone of s1 must not see this.
    await io(source(), 'write -P 0xbb 64M 1M');
  });
  after(() => rm(dir, {recursive: true, force: true}));

  test('the clone base of a snapshot holds only the source\'s delta at that snapshot, backed by the box image', async () => {
    const base = path.join(dir, 'clone-base-s1.qcow2');
    await makeCloneBase({sourceDisk: source(), boxImage: box(), boxFormat: 'qcow2', snapshot: 's1', output: base});
    const info = JSON.parse((await execa('qemu-img', ['info', '--output=json', base])).stdout);
    assert.equal(info['backing-filename'], box());
    assert.equal(info['backing-filename-format'], 'qcow2');
    assert.equal((await io(base, 'read -P 0xaa 64M 1M')).exitCode, 0, 'the snapshot\'s data');
    assert.match((await io(base, 'read -P 0xaa 64M 1M')).stdout, /read 1048576/);
    assert.doesNotMatch((await io(base, 'read -P 0xaa 64M 1M')).stdout, /Pattern verification failed/);
    assert.doesNotMatch((await io(base, 'read -P 0x11 0 32M')).stdout, /Pattern verification failed/, 'the box image shows through');
    // Only the delta: far smaller than the box image's 32 MiB of data.
    assert.ok((await stat(base)).size < 4 * MiB, `clone base is ${(await stat(base)).size} bytes`);
  });

  test('without a snapshot the clone base is the source disk as it is now', async () => {
    const base = path.join(dir, 'clone-base-now.qcow2');
    await makeCloneBase({sourceDisk: source(), boxImage: box(), boxFormat: 'qcow2', output: base});
    assert.doesNotMatch((await io(base, 'read -P 0xbb 64M 1M')).stdout, /Pattern verification failed/);
    // A clone's overlay over its base does not depend on the source's overlay.
    const overlay = path.join(dir, 'clone-disk.qcow2');
    await createOverlay(base, overlay, {baseFormat: 'qcow2', sizeBytes: 256 * MiB});
    const chain = JSON.parse((await execa('qemu-img', ['info', '--backing-chain', '--output=json', overlay])).stdout) as Array<{filename: string}>;
    assert.deepEqual(chain.map((c) => path.basename(c.filename)), ['clone-disk.qcow2', 'clone-base-now.qcow2', 'box.img']);
  });

  test('a snapshot the source does not have is refused with the ones it has', async () => {
    assert.deepEqual(await internalSnapshots(source()), ['s1']);
    await assert.rejects(checkSnapshot('web', source(), 'nope'), (error: Error & {code?: string; hint?: string; exitCode?: number}) => {
      assert.equal(error.code, 'ERR_SNAPSHOT_NOT_FOUND');
      assert.match(error.message, /web has no snapshot "nope"/);
      assert.match(String(error.hint), /s1/);
      return true;
    });
    await checkSnapshot('web', source(), 's1');
  });

  test('QEMU opens a clone\'s disk as overlay → clone base → box image, the box image with no backing of its own', () => {
    const args = baseBlockdev({file: '/b/box.img', format: 'qcow2', clone: '/m/clone-base.qcow2'});
    const nodes = args.filter((a) => a.startsWith('{')).map((a) => JSON.parse(a));
    assert.deepEqual(nodes.map((n) => [n['node-name'], n.backing, n.file.filename]), [[CLONE_BOX_NODE, null, '/b/box.img'], [BASE_NODE, CLONE_BOX_NODE, '/m/clone-base.qcow2']]);
  });
});

describe('the clone base is copied under the source machine\'s lock (real qemu-img)', () => {
  let root: string;
  const sourceDir = () => path.join(root, '.box', 'machines', 'web');
  const cloneDir = () => path.join(root, '.box', 'machines', 'copy');
  const boxImage = () => path.join(root, 'box.img');
  const record = (snapshot?: string): QemuCloneRecord => ({of: 'web', base: path.join(cloneDir(), 'clone-base.qcow2'), ...(snapshot ? {snapshot} : {})});
  const q = () => ({baseImage: boxImage(), baseFormat: 'qcow2'});
  /** The source as `box up` + `box halt` record it; `suspended` as `box suspend` leaves it. */
  const recordSource = async (suspended = false) => {
    const disk = path.join(sourceDir(), 'disk.qcow2');
    const stateFile = path.join(sourceDir(), 'suspend.state');
    if (suspended) await writeFile(stateFile, 'saved RAM');
    await writeFile(path.join(sourceDir(), 'state.json'), JSON.stringify({
      machine: 'web', target: 'qemu', createdAt: new Date().toISOString(), provisioned: true, upCompleted: true,
      provider: {phase: 'created', disk, baseImage: boxImage(), baseFormat: 'qcow2', forwardedPorts: [], keyInserted: true,
        ...(suspended ? {suspended: {file: stateFile, at: new Date().toISOString(), bytes: 9, launch: [], binary: {path: '/x', size: 1, mtimeMs: 1}, baseImage: {path: boxImage(), size: 1, mtimeMs: 1}}} : {})},
    }));
  };

  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'box-clone-lock-'));
    await mkdir(sourceDir(), {recursive: true});
    await mkdir(cloneDir(), {recursive: true});
    await execa('qemu-img', ['create', '-q', '-f', 'qcow2', boxImage(), '64M']);
    await createOverlay(boxImage(), path.join(sourceDir(), 'disk.qcow2'), {baseFormat: 'qcow2', sizeBytes: 64 * MiB});
    await execa('qemu-img', ['snapshot', '-c', 's1', path.join(sourceDir(), 'disk.qcow2')]);
  });
  after(() => rm(root, {recursive: true, force: true}));

  test('while another box process holds the source (its up, destroy...), the copy waits for it, then runs', async () => {
    await recordSource();
    let copied: Promise<unknown> | undefined;
    await withMachineLock(root, 'web', {}, async () => {
      copied = cloneBaseFor({project: {root}}, record(), q());
      await sleep(1500);
      assert.equal(existsSync(record().base), false, 'nothing is copied while the source is held');
      assert.equal(existsSync(`${record().base}.partial`), false);
    });
    await copied;
    assert.equal(existsSync(record().base), true);
    await rm(record().base);
  });

  test('while the copy runs, the source\'s lock is taken: a lifecycle command on it is refused', async () => {
    await recordSource();
    // A qemu-img that takes a second before the real one runs: the copy is surely under way while the source is tried.
    const shim = path.join(root, 'slow-bin');
    await mkdir(shim, {recursive: true});
    const real = (await execa('sh', ['-c', 'command -v qemu-img'])).stdout.trim();
    await writeFile(path.join(shim, 'qemu-img'), `#!/bin/sh\nsleep 1\nexec ${real} "$@"\n`, {mode: 0o755});
    const savedPath = process.env.PATH;
    process.env.PATH = `${shim}:${savedPath}`;
    try {
      const copied = cloneBaseFor({project: {root}}, record(), q());
      for (let i = 0; i < 50 && !await machineLockHeld(root, 'web'); i++) await sleep(10);
      await assert.rejects(withMachineLock(root, 'web', {waitMs: 0}, async () => undefined), (e: Error & {code?: string}) => e.code === 'ERR_LOCKED');
      assert.equal(existsSync(record().base), false, 'the copy was still running');
      await copied;
    } finally {
      process.env.PATH = savedPath;
    }
    assert.equal(await machineLockHeld(root, 'web'), false, 'released after the copy');
    await rm(record().base);
  });

  test('a source suspended since `--from` was checked is refused under the lock; its snapshot can still be cloned', async () => {
    await recordSource(true);
    await assert.rejects(cloneBaseFor({project: {root}}, record(), q()), (e: Error & {code?: string; exitCode?: number}) => {
      assert.equal(e.code, 'ERR_CLONE_SOURCE_RUNNING');
      assert.equal(e.exitCode, 2);
      assert.match(e.message, /web is suspended: its disk is not at rest/);
      return true;
    });
    assert.equal(existsSync(record().base), false);
    await cloneBaseFor({project: {root}}, record('s1'), q());
    assert.equal(existsSync(record().base), true);
    await rm(record().base);
  });
});
