import assert from 'node:assert/strict';
import {mkdtemp, rm, stat} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {execa} from 'execa';
import {checkSnapshot, internalSnapshots, makeCloneBase} from '../../../src/providers/qemu/clone.js';
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
