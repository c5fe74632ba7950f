import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {execa} from 'execa';
import {readdir, readFile, stat, writeFile} from 'node:fs/promises';
import path from 'node:path';
import tar from 'tar-stream';
import {detectCompression} from '../../src/boxes/extract.js';
import {silentUi} from '../../src/core/ui.js';
import {addBox} from '../../src/boxes/add.js';
import {tempDir} from '../helpers/cli.js';
import {goodBox, makeTar, qcow2Image, sha256, writeBox} from '../fixtures/boxes/make-box.js';

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

  test('a sparse disk image in PAX 1.0 (bsdtar, as `vagrant package` packs, and GNU tar --format=posix -S) is extracted byte for byte, holes kept', async () => {
    const dir = path.join(work.dir, 'sparse');
    await execa('mkdir', ['-p', dir]);
    await writeFile(path.join(dir, 'metadata.json'), '{"provider": "libvirt", "format": "raw"}');
    const image = path.join(dir, 'box.img');
    await execa('truncate', ['-s', '10M', image]);
    // Three data segments: at the start, in the middle (not block-aligned), at the end.
    await execa('sh', ['-c', 'printf start | dd of=box.img conv=notrunc status=none; printf middle | dd of=box.img bs=1 seek=3000001 conv=notrunc status=none; echo end >> box.img'], {cwd: dir});
    const original = await readFile(image);
    for (const [label, args] of [['bsdtar', ['bsdtar', '-czf']], ['gnu-posix', ['tar', '--format=posix', '-cSf']]] as const) {
      const file = path.join(work.dir, `sparse-${label}.box`);
      await execa(args[0], [...args.slice(1), file, 'metadata.json', 'box.img'], {cwd: dir});
      const added = await addBox({source: file, name: `sparse-${label}`, ui: silentUi(), signal});
      const extracted = path.join(added.dir, 'box.img');
      assert.ok((await readFile(extracted)).equals(original), `${label}: the same bytes`);
      const s = await stat(extracted);
      assert.equal(s.size, original.length);
      assert.ok(s.blocks * 512 < 1024 * 1024, `${label}: the holes stay holes (${s.blocks * 512} bytes allocated)`);
      assert.deepEqual((await readdir(added.dir)).sort(), ['box.img', 'metadata.json'], `${label}: no GNUSparseFile folder`);
    }
  });

  test('the old GNU sparse format is refused, and a damaged sparse map too', async () => {
    const dir = path.join(work.dir, 'sparse');
    const file = path.join(work.dir, 'sparse-gnu.box');
    await execa('tar', ['--format=gnu', '-cSf', file, 'metadata.json', 'box.img'], {cwd: dir});
    await assert.rejects(addBox({source: file, name: 'sparse-gnu', ui: silentUi(), signal}), (error: unknown) => {
      assert.equal((error as {code?: string}).code, 'ERR_BOX_FORMAT');
      assert.match((error as Error).message, /box\.img" uses a tar extension box cannot extract \(an old sparse file format/);
      return true;
    });
    // A PAX 1.0 entry whose map promises 50 bytes of data but holds 10.
    const map = Buffer.alloc(512);
    map.write('1\n0\n50\n');
    const damaged = await makeTar([{name: 'metadata.json', content: '{"provider": "libvirt", "format": "raw"}'}], {});
    const pack = tar.pack();
    const chunks: Buffer[] = [];
    pack.on('data', (c: Buffer) => chunks.push(c));
    const ended = new Promise((r) => pack.on('end', r));
    pack.entry({name: 'GNUSparseFile.0/box.img', size: 522, pax: {'GNU.sparse.major': '1', 'GNU.sparse.minor': '0', 'GNU.sparse.name': 'box.img', 'GNU.sparse.realsize': '100'}}, Buffer.concat([map, Buffer.alloc(10, 1)]));
    pack.finalize();
    await ended;
    const bad = path.join(work.dir, 'sparse-damaged.box');
    await writeFile(bad, Buffer.concat([damaged.subarray(0, damaged.length - 1024), Buffer.concat(chunks)]));
    await assert.rejects(addBox({source: bad, name: 'sparse-damaged', ui: silentUi(), signal}), (error: unknown) => {
      assert.equal((error as {code?: string}).code, 'ERR_BOX_FORMAT');
      assert.match((error as Error).message, /the sparse file entry "GNUSparseFile\.0\/box\.img" is damaged: its map does not match its stored size/);
      return true;
    });
  });
});
