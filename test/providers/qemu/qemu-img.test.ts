import assert from 'node:assert/strict';
import {mkdtemp, rm, stat} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {execa} from 'execa';
import {convertPercentReader, createOverlay, imageInfo} from '../../../src/providers/qemu/qemu-img.js';

describe('qemu-img driver', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'box-qemu-img-'));
    await execa('qemu-img', ['create', '-q', '-f', 'qcow2', path.join(dir, 'base.qcow2'), '1G']);
  });
  after(() => rm(dir, {recursive: true, force: true}));

  test('imageInfo reads the format and virtual size', async () => {
    const info = await imageInfo(path.join(dir, 'base.qcow2'));
    assert.deepEqual(info, {format: 'qcow2', virtualSize: 1024 ** 3});
  });

  test('an overlay is a small qcow2 file backed by the base, grown to the requested size', async () => {
    const overlay = path.join(dir, 'disk.qcow2');
    await createOverlay(path.join(dir, 'base.qcow2'), overlay, {baseFormat: 'qcow2', sizeBytes: 4 * 1024 ** 3});
    const info = JSON.parse((await execa('qemu-img', ['info', '--output=json', overlay])).stdout);
    assert.equal(info['virtual-size'], 4 * 1024 ** 3);
    assert.equal(info['backing-filename'], path.join(dir, 'base.qcow2'));
    assert.equal(info['backing-filename-format'], 'qcow2');
    assert.ok((await stat(overlay)).size < 1024 * 1024);
  });

  test('a broken base image fails with qemu-img\'s own message', async () => {
    const bogus = path.join(dir, 'bogus.img');
    await execa('sh', ['-c', `echo not-an-image > ${bogus}`]);
    await assert.rejects(createOverlay(bogus, path.join(dir, 'x.qcow2'), {baseFormat: 'qcow2'}), (e: any) => {
      assert.equal(e.code, 'ERR_QEMU_IMG');
      assert.match(e.message, /qcow2|Image is not in qcow2 format|Could not open/i);
      return true;
    });
  });
});

describe('qemu-img convert -p output', () => {
  test('each new percentage is read once, also when a chunk cuts one in two', () => {
    const seen: number[] = [];
    const read = convertPercentReader((p) => seen.push(p));
    read('    (0.00/100%)\r    (1.06/100%)\r');
    read('    (1.06/100%)\r    (12.');
    read('75/100%)\r');
    read('garbage without a percentage\n');
    read('    (100.00/100%)\r\n');
    assert.deepEqual(seen, [1.06, 12.75, 100]);
  });
});
