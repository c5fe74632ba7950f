import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {existsSync} from 'node:fs';
import {mkdir, readdir, readFile, readlink, stat} from 'node:fs/promises';
import path from 'node:path';
import {gzipSync} from 'node:zlib';
import {addBox} from '../../src/boxes/add.js';
import {extractArchive} from '../../src/boxes/extract.js';
import {BoxError} from '../../src/core/errors.js';
import {silentUi} from '../../src/core/ui.js';
import {tempDir} from '../helpers/cli.js';
import {libvirtMetadata, makeTar, qcow2Image, writeBox, type TarEntry} from '../fixtures/boxes/make-box.js';

// Each malicious archive is added through the real add service (BOX_HOME in a temp dir), and
// must fail with its typed error while leaving the store exactly as empty as before.
let work: {dir: string; cleanup: () => Promise<void>};
let oldHome: string | undefined;

before(async () => {
  work = await tempDir('box-extract-');
  oldHome = process.env.BOX_HOME;
  process.env.BOX_HOME = path.join(work.dir, 'home');
});

after(async () => {
  if (oldHome === undefined) delete process.env.BOX_HOME;
  else process.env.BOX_HOME = oldHome;
  await work.cleanup();
});

const meta: TarEntry = {name: 'metadata.json', content: libvirtMetadata};
const image: TarEntry = {name: 'box.img', content: qcow2Image()};
let counter = 0;

async function add(entries: TarEntry[], options: {gzip?: boolean} = {}): Promise<unknown> {
  const file = await writeBox(path.join(work.dir, `case-${counter++}.box`), await makeTar(entries, options));
  return addBox({source: file, name: `case-${counter}`, ui: silentUi(), signal: new AbortController().signal});
}

async function storeEntries(): Promise<string[]> {
  const root = path.join(work.dir, 'home', 'boxes');
  if (!existsSync(root)) return [];
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const e of await readdir(d, {withFileTypes: true})) {
      out.push(path.relative(root, path.join(d, e.name)));
      if (e.isDirectory()) await walk(path.join(d, e.name));
    }
  };
  await walk(root);
  return out;
}

async function assertRefused(entries: TarEntry[], code: string, pattern: RegExp): Promise<void> {
  await assert.rejects(add(entries), (error: unknown) => {
    assert.ok(error instanceof BoxError, `expected a BoxError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.match(error.message, pattern);
    assert.ok(error.hint, 'the error carries a hint');
    return true;
  });
  assert.deepEqual(await storeEntries(), [], 'nothing (not even a temp folder) is left in the store');
}

describe('safe extraction refuses malicious boxes and leaves nothing behind', () => {
  test('an absolute path is refused', async () => {
    await assertRefused([meta, {name: '/tmp/evil', content: 'x'}], 'ERR_BOX_UNSAFE_PATH', /"\/tmp\/evil" is an absolute path/);
  });

  test('a path with .. is refused', async () => {
    await assertRefused([meta, {name: 'a/../../evil', content: 'x'}], 'ERR_BOX_UNSAFE_PATH', /contains "\.\."/);
  });

  test('a symbolic link pointing out of the box is refused', async () => {
    await assertRefused([meta, {name: 'link', type: 'symlink', linkname: '../../../etc/passwd'}], 'ERR_BOX_UNSAFE_PATH', /symbolic link to "\.\.\/\.\.\/\.\.\/etc\/passwd", outside the box/);
  });

  test('a symbolic link to an absolute path is refused', async () => {
    await assertRefused([meta, {name: 'link', type: 'symlink', linkname: '/etc/passwd'}], 'ERR_BOX_UNSAFE_PATH', /absolute path "\/etc\/passwd"/);
  });

  test('a symbolic link that escapes through another link is refused', async () => {
    // "self" -> "." is harmless alone, but "esc" -> "self/.." resolves to the parent of the box.
    await assertRefused([meta, {name: 'self', type: 'symlink', linkname: '.'}, {name: 'esc', type: 'symlink', linkname: 'self/..'}], 'ERR_BOX_UNSAFE_PATH', /"esc" is a symbolic link to "self\/\.\.", which leads outside the box/);
  });

  test('a chain of links completed by a later link is refused even though its target does not exist', async () => {
    // "a" -> "d/../gone" is inside when written ("d" is no link yet), and "d" -> "." is harmless
    // alone; together "a" leads to the parent of the box, where "gone" does not exist, so a
    // check with realpath cannot see it.
    await assertRefused([meta, image, {name: 'a', type: 'symlink', linkname: 'd/../gone'}, {name: 'd', type: 'symlink', linkname: '.'}],
      'ERR_BOX_UNSAFE_PATH', /"a" is a symbolic link that leads outside the box \(through links of the archive\)/);
  });

  test('a link through an earlier link to a path that does not exist yet is refused at once', async () => {
    await assertRefused([meta, image, {name: 'up', type: 'symlink', linkname: '.'}, {name: 'later', type: 'symlink', linkname: 'up/../not-yet'}],
      'ERR_BOX_UNSAFE_PATH', /"later" is a symbolic link to "up\/\.\.\/not-yet", which leads outside the box/);
  });

  test('a loop of links is refused', async () => {
    await assertRefused([meta, image, {name: 'x', type: 'symlink', linkname: 'y'}, {name: 'y', type: 'symlink', linkname: 'x'}], 'ERR_BOX_UNSAFE_PATH', /loop of links/);
  });

  test('writing a file through a symbolic link is refused', async () => {
    await assertRefused([meta, {name: 'dir', type: 'symlink', linkname: '.'}, {name: 'dir/x', content: 'x'}], 'ERR_BOX_UNSAFE_PATH', /goes through the symbolic link "dir"/);
  });

  test('a hard link pointing out of the box is refused', async () => {
    await assertRefused([meta, {name: 'hard', type: 'link', linkname: '../../etc/passwd'}], 'ERR_BOX_UNSAFE_PATH', /hard link to "\.\.\/\.\.\/etc\/passwd", outside the box/);
  });

  test('a hard link to an absolute path is refused', async () => {
    await assertRefused([meta, {name: 'hard', type: 'link', linkname: '/etc/passwd'}], 'ERR_BOX_UNSAFE_PATH', /hard link/);
  });

  test('a character device is refused', async () => {
    await assertRefused([meta, {name: 'null', type: 'character-device'}], 'ERR_BOX_UNSAFE_ENTRY', /"null" is a character device/);
  });

  test('a block device is refused', async () => {
    await assertRefused([meta, {name: 'sda', type: 'block-device'}], 'ERR_BOX_UNSAFE_ENTRY', /block device/);
  });

  test('a FIFO is refused', async () => {
    await assertRefused([meta, {name: 'pipe', type: 'fifo'}], 'ERR_BOX_UNSAFE_ENTRY', /"pipe" is a fifo/);
  });

  test('a box without metadata.json is refused', async () => {
    await assertRefused([{name: 'box.img', content: 'disk'}], 'ERR_BOX_NO_METADATA', /no metadata\.json/);
  });

  test('a box whose metadata.json sits in a sub-folder is refused', async () => {
    await assertRefused([{name: 'mybox/metadata.json', content: libvirtMetadata}], 'ERR_BOX_NO_METADATA', /no metadata\.json at the root/);
  });

  test('metadata.json without a provider is refused', async () => {
    await assertRefused([{name: 'metadata.json', content: '{"format": "qcow2"}'}], 'ERR_BOX_BAD_METADATA', /does not name a provider/);
  });

  test('metadata.json that is not JSON is refused', async () => {
    await assertRefused([{name: 'metadata.json', content: 'provider: libvirt'}], 'ERR_BOX_BAD_METADATA', /not valid JSON/);
  });

  test('a file that is not a tar archive is refused as ERR_BOX_FORMAT', async () => {
    const file = await writeBox(path.join(work.dir, 'garbage.box'), Buffer.from('this is not a tar archive at all, just text'.repeat(20)));
    await assert.rejects(addBox({source: file, name: 'garbage', ui: silentUi(), signal: new AbortController().signal}), {code: 'ERR_BOX_FORMAT'});
    assert.deepEqual(await storeEntries(), []);
  });

  test('a JSON document streamed as a box archive is refused with a hint about catalogs', async () => {
    const dest = path.join(work.dir, 'json-dest');
    await mkdir(dest);
    async function* json(): AsyncGenerator<Buffer> {
      yield Buffer.from('  {"name": "x", "versions": []}');
    }
    await assert.rejects(extractArchive(json(), dest, 'http://h/x'), (error: unknown) => {
      assert.ok(error instanceof BoxError);
      assert.equal(error.code, 'ERR_BOX_FORMAT');
      assert.equal(error.message, 'http://h/x is JSON, not a box archive.');
      assert.match(error.hint ?? '', /application\/json/);
      return true;
    });
  });

  test('a plain tar cut exactly between two members is refused as incomplete, plain or compressed afterwards', async () => {
    // metadata.json, box.img, then vmlinuz: cut right after box.img, where a tar reader sees a
    // clean end of file, and without the two zero blocks that end a tar.
    const entries: TarEntry[] = [{name: 'metadata.json', content: JSON.stringify({provider: 'libvirt', format: 'qcow2', kernel: 'vmlinuz'})}, image, {name: 'vmlinuz', content: 'kernel'}];
    const whole = await makeTar(entries);
    const padded = (n: number): number => Math.ceil(n / 512) * 512;
    const cut = whole.subarray(0, entries.slice(0, 2).reduce((sum, e) => sum + 512 + padded(Buffer.byteLength(e.content!)), 0));
    for (const [name, data] of [['cut.box', cut], ['cut-then-gzipped.box', gzipSync(cut)]] as const) {
      const file = await writeBox(path.join(work.dir, name), data);
      await assert.rejects(addBox({source: file, name: 'cut', ui: silentUi(), signal: new AbortController().signal}), (error: unknown) => {
        assert.ok(error instanceof BoxError);
        assert.equal(error.code, 'ERR_BOX_INCOMPLETE');
        assert.match(error.message, /is cut short: the tar archive ends without its end-of-archive marker/);
        return true;
      });
      assert.deepEqual(await storeEntries(), [], 'nothing is installed');
    }
  });

  test('a metadata.json larger than 1 MiB is refused from its header, before its data is written', async () => {
    const dest = path.join(work.dir, 'big-meta');
    await mkdir(dest);
    const big = await makeTar([{name: 'metadata.json', content: Buffer.alloc(2 * 1024 * 1024, 0x20)}]);
    async function* chunks(): AsyncGenerator<Buffer> {
      yield big;
    }
    await assert.rejects(extractArchive(chunks(), dest, 'big.box'), (error: unknown) => {
      assert.ok(error instanceof BoxError);
      assert.equal(error.code, 'ERR_BOX_BAD_METADATA');
      assert.match(error.message, /metadata\.json of big\.box is 2\.0 MiB: a box's metadata\.json is a small JSON object \(at most 1\.0 MiB\)/);
      return true;
    });
    assert.deepEqual(await readdir(dest), [], 'the data was never written');
  });

  test('a compressed box expanding past the absolute limit is refused and what was written is removed', async () => {
    const bomb = await writeBox(path.join(work.dir, 'bomb.box'), await makeTar([meta, {name: 'box.img', content: Buffer.alloc(48 * 1024 * 1024)}], {gzip: true}));
    await assert.rejects(addBox({source: bomb, name: 'bomb', ui: silentUi(), signal: new AbortController().signal, limits: {maxBytes: 16 * 1024 * 1024, maxRatio: 200}}), (error: unknown) => {
      assert.ok(error instanceof BoxError);
      assert.equal(error.code, 'ERR_BOX_TOO_LARGE');
      assert.match(error.message, /it expands to more than 16\.0 MiB\. It looks like a decompression bomb/);
      assert.match(error.hint ?? '', /--max-expanded-size/);
      return true;
    });
    assert.deepEqual(await storeEntries(), []);
  });

  test('nothing was written outside the box folders by any refused archive', async () => {
    assert.equal(existsSync(path.join(work.dir, 'evil')), false);
    assert.equal(existsSync('/tmp/evil'), false);
  });
});

describe('safe extraction keeps what is legitimate', () => {
  test('links that stay inside the box, folders and a gzip archive are installed', async () => {
    const file = await writeBox(path.join(work.dir, 'ok.box'), await makeTar([
      {name: './', type: 'directory'},
      meta,
      image,
      {name: 'sub/', type: 'directory'},
      {name: 'sub/disk.img', content: 'disk-bytes', mode: 0o600},
      {name: 'current', type: 'symlink', linkname: 'sub/disk.img'},
      {name: 'sub/up', type: 'symlink', linkname: '../metadata.json'},
      {name: 'copy.img', type: 'link', linkname: 'sub/disk.img'},
    ], {gzip: true}));
    const added = await addBox({source: file, name: 'legit', ui: silentUi(), signal: new AbortController().signal});
    assert.equal(added.provider, 'libvirt');
    assert.equal(await readFile(path.join(added.dir, 'current'), 'utf8'), 'disk-bytes');
    assert.equal(await readlink(path.join(added.dir, 'sub', 'up')), '../metadata.json');
    const [a, b] = await Promise.all([stat(path.join(added.dir, 'copy.img')), stat(path.join(added.dir, 'sub', 'disk.img'))]);
    assert.equal(a.ino, b.ino, 'the hard link points at the same file');
  });

  test('temporary folders left by a killed add are removed by the next add of that name', async () => {
    const stale = path.join(work.dir, 'home', 'boxes', 'again', '.tmp-add-stale');
    await mkdir(path.join(stale, 'sub'), {recursive: true});
    const file = await writeBox(path.join(work.dir, 'again.box'), await makeTar([meta, image]));
    await addBox({source: file, name: 'again', ui: silentUi(), signal: new AbortController().signal});
    assert.deepEqual(await readdir(path.join(work.dir, 'home', 'boxes', 'again')), ['0']);
  });
});
