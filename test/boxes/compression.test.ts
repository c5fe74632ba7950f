import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {execa} from 'execa';
import {readFile, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {detectCompression} from '../../src/boxes/extract.js';
import {silentUi} from '../../src/core/ui.js';
import {addBox} from '../../src/services/box-add.js';
import {tempDir} from '../helpers/cli.js';
import {goodBox, qcow2Image, sha256, writeBox} from '../fixtures/boxes/make-box.js';

let work: {dir: string; cleanup: () => Promise<void>};
let oldHome: string | undefined;
const signal = new AbortController().signal;

before(async () => {
  work = await tempDir('box-compress-');
  oldHome = process.env.BOX_HOME;
  process.env.BOX_HOME = path.join(work.dir, 'home');
});

after(async () => {
  if (oldHome === undefined) delete process.env.BOX_HOME;
  else process.env.BOX_HOME = oldHome;
  await work.cleanup();
});

describe('box archives are recognised by their bytes, not their names', () => {
  test('magic bytes identify gzip, bzip2, xz, zstd and plain tar', () => {
    assert.equal(detectCompression(Buffer.from([0x1f, 0x8b, 8, 0, 0, 0])), 'gzip');
    assert.equal(detectCompression(Buffer.from('BZh91AY')), 'bzip2');
    assert.equal(detectCompression(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00])), 'xz');
    assert.equal(detectCompression(Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0])), 'zstd');
    assert.equal(detectCompression(Buffer.from('metadata.json\0\0\0')), 'none');
  });

  test('a tar.gz named .box and a zstd-compressed tar are both installed, hashed over the compressed bytes', async () => {
    const tarData = await goodBox({imageBytes: 256 * 1024});
    const gz = await writeBox(path.join(work.dir, 'gz.box'), await goodBox({imageBytes: 256 * 1024, gzip: true}));
    const plain = await writeBox(path.join(work.dir, 'plain.tar'), tarData);
    await execa('zstd', ['-q', '-f', plain, '-o', path.join(work.dir, 'z.box')]);
    const zBytes = await readFile(path.join(work.dir, 'z.box'));

    const a = await addBox({source: gz, name: 'gz', ui: silentUi(), signal});
    const b = await addBox({source: path.join(work.dir, 'z.box'), name: 'zst', checksum: {type: 'sha256', value: sha256(zBytes)}, ui: silentUi(), signal});
    assert.equal(b.sha256, sha256(zBytes));
    const [imgA, imgB] = await Promise.all([readFile(path.join(a.dir, 'box.img')), readFile(path.join(b.dir, 'box.img'))]);
    assert.equal(imgA.length, qcow2Image().length + 256 * 1024);
    assert.ok(imgA.equals(imgB), 'both archives hold the same image');
  });

  test('a tar with sparse files (GNU and PAX formats) is refused instead of extracting a corrupt image', async () => {
    const dir = path.join(work.dir, 'sparse');
    await execa('mkdir', ['-p', dir]);
    await writeFile(path.join(dir, 'metadata.json'), '{"provider": "libvirt"}');
    await execa('truncate', ['-s', '10M', path.join(dir, 'box.img')]);
    await execa('sh', ['-c', 'echo data >> box.img'], {cwd: dir});
    for (const format of ['gnu', 'posix']) {
      const file = path.join(work.dir, `sparse-${format}.box`);
      await execa('tar', [`--format=${format}`, '-cSf', file, 'metadata.json', 'box.img'], {cwd: dir});
      await assert.rejects(addBox({source: file, name: `sparse-${format}`, ui: silentUi(), signal}), (error: unknown) => {
        assert.equal((error as {code?: string}).code, 'ERR_BOX_FORMAT');
        assert.match((error as Error).message, /box\.img" uses a tar extension box cannot extract/);
        return true;
      });
    }
  });
});
