import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {existsSync} from 'node:fs';
import {mkdir, readdir, readFile, readlink, stat} from 'node:fs/promises';
import path from 'node:path';
import {addBox} from '../../src/services/box-add.js';
import {extractArchive} from '../../src/boxes/extract.js';
import {BoxError} from '../../src/core/errors.js';
import {silentUi} from '../../src/core/ui.js';
import {tempDir} from '../helpers/cli.js';
import {libvirtMetadata, makeTar, writeBox, type TarEntry} from '../fixtures/boxes/make-box.js';

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
    await assertRefused([meta, {name: 'self', type: 'symlink', linkname: '.'}, {name: 'esc', type: 'symlink', linkname: 'self/..'}], 'ERR_BOX_UNSAFE_PATH', /"esc" is a symbolic link that resolves outside the box/);
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
    const file = await writeBox(path.join(work.dir, 'again.box'), await makeTar([meta]));
    await addBox({source: file, name: 'again', ui: silentUi(), signal: new AbortController().signal});
    assert.deepEqual(await readdir(path.join(work.dir, 'home', 'boxes', 'again')), ['0']);
  });
});
