import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {execa} from 'execa';
import {existsSync} from 'node:fs';
import {mkdir, readdir, rm, writeFile} from 'node:fs/promises';
import http from 'node:http';
import type {AddressInfo} from 'node:net';
import path from 'node:path';
import {box, boxJson, tempDir} from '../../helpers/cli.js';
import {libvirtMetadata, makeTar, noise, qcow2Image, sha256, writeBox, zeroBomb} from '../../fixtures/boxes/make-box.js';

// `box box add` of input that is too big, badly named or lands on a full disk: each is a clear
// user error with its own code (never "This looks like a bug"), and nothing is left behind.
let work: {dir: string; cleanup: () => Promise<void>};
const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

before(async () => {
  work = await tempDir('box-add-bad-');
});

after(async () => {
  await work.cleanup();
});

/** Every file and folder under the store and the download cache of `home`. */
async function leftovers(home: string): Promise<string[]> {
  const found: string[] = [];
  for (const sub of ['boxes', path.join('cache', 'downloads')]) {
    for (const entry of await readdir(path.join(home, sub), {recursive: true}).catch(() => [] as string[])) found.push(path.join(sub, entry));
  }
  return found;
}

describe('box box add: sizes and names from the box are bounded', () => {
  test('a 300-character box name is a usage error (exit 2) naming the limit, not a bug', async () => {
    const home = path.join(work.dir, 'home-name');
    const file = await writeBox(path.join(work.dir, 'ok.box'), await makeTar([{name: 'metadata.json', content: libvirtMetadata}, {name: 'box.img', content: qcow2Image()}]));
    const {result, json} = await boxJson(['box', 'add', 'n'.repeat(300), file], {boxHome: home});
    assert.equal(result.exitCode, 2);
    assert.equal(json.error.code, 'ERR_BOX_NAME');
    assert.match(json.error.message, /is 300 characters long \(at most 128\)/);
    assert.doesNotMatch(String(result.stderr) + json.error.hint, /looks like a bug/);
    assert.deepEqual(await leftovers(home), []);
  });

  test('a 640 MiB metadata.json is refused as bad metadata from its header', async () => {
    const home = path.join(work.dir, 'home-meta');
    const file = await writeBox(path.join(work.dir, 'big-meta.box'), await zeroBomb([], 'metadata.json', 640 * MiB));
    const started = Date.now();
    const result = await box(['box', 'add', 'bigmeta', file], {boxHome: home});
    assert.equal(result.exitCode, 1, String(result.stderr));
    assert.match(String(result.stderr), /metadata\.json of .*big-meta\.box is 640\.0 MiB: a box's metadata\.json is a small JSON object \(at most 1\.0 MiB\)/);
    assert.doesNotMatch(String(result.stderr), /looks like a bug/);
    assert.ok(Date.now() - started < 30_000, 'refused without reading the 640 MiB');
    assert.deepEqual(await leftovers(home), []);
  });

  test('a 10 MB gzip that expands to 10 GiB is refused by the ratio limit after 1 GiB, and nothing is left', async () => {
    const home = path.join(work.dir, 'home-bomb');
    const data = await zeroBomb([{name: 'metadata.json', content: libvirtMetadata}], 'box.img', 10 * GiB);
    assert.ok(data.length < 11 * MiB, `the bomb is ${data.length} bytes`);
    const file = await writeBox(path.join(work.dir, 'bomb.box'), data);
    const {result, json} = await boxJson(['box', 'add', 'bomb', file], {boxHome: home, timeoutMs: 180_000});
    assert.equal(result.exitCode, 1);
    assert.equal(json.error.code, 'ERR_BOX_TOO_LARGE');
    assert.match(json.error.message, /expanded to 1\.0 GiB, more than 200 times its compressed size\. It looks like a decompression bomb/);
    assert.match(json.error.hint, /--max-expansion-ratio/);
    assert.ok(json.error.details.expandedBytes < 1.2 * GiB, 'stopped soon after the 1 GiB floor');
    assert.deepEqual(await leftovers(home), []);
  });

  test('a highly compressible box below 1 GiB is accepted, and --max-expanded-size caps it', async () => {
    const home = path.join(work.dir, 'home-cap');
    // A qcow2 followed by 128 MiB of zeros: ~1000:1 in gzip, like a very empty raw disk.
    const data = await makeTar([{name: 'metadata.json', content: libvirtMetadata}, {name: 'box.img', content: Buffer.concat([qcow2Image(), Buffer.alloc(128 * MiB)])}], {gzip: true});
    const file = await writeBox(path.join(work.dir, 'zeros.box'), data);
    const capped = await boxJson(['box', 'add', 'zeros', file, '--max-expanded-size', '64M'], {boxHome: home});
    assert.equal(capped.result.exitCode, 1);
    assert.equal(capped.json.error.code, 'ERR_BOX_TOO_LARGE');
    assert.match(capped.json.error.message, /it expands to more than 64\.0 MiB/);
    assert.deepEqual(await leftovers(home), []);
    const added = await boxJson(['box', 'add', 'zeros', file], {boxHome: home});
    assert.equal(added.result.exitCode, 0, String(added.result.stderr));
    assert.equal(added.json.name, 'zeros');
  });

  test('--max-expanded-size must be a size', async () => {
    const result = await box(['box', 'add', 'x', path.join(work.dir, 'ok.box'), '--max-expanded-size', 'lots'], {boxHome: path.join(work.dir, 'home-flag')});
    assert.equal(result.exitCode, 2);
    assert.match(String(result.stderr), /--max-expanded-size "lots" is not a size/);
  });
});

describe('box box add on a full file system', () => {
  // BOX_HOME on a real 4 MiB tmpfs (the tests run as root, as in CI).
  const mountPoint = (): string => path.join(work.dir, 'small');
  let server: http.Server;
  let url: string;
  let body: Buffer;

  before(async () => {
    await mkdir(mountPoint());
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mountPoint()]);
    body = await makeTar([{name: 'metadata.json', content: libvirtMetadata}, {name: 'box.img', content: Buffer.concat([qcow2Image(), noise(6 * MiB)])}]);
    // No Content-Length (chunked): the size is not known before the disk fills.
    server = http.createServer((_req, res) => {
      res.writeHead(200, {'content-type': 'application/octet-stream'});
      res.end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/big.box`;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await execa('umount', ['-l', mountPoint()], {reject: false});
  });

  test('a box larger than the free space is refused before extracting, saying how much it needs and how much is free', async () => {
    const home = path.join(mountPoint(), 'home-a');
    const file = await writeBox(path.join(work.dir, 'big.box'), body);
    const {result, json} = await boxJson(['box', 'add', 'big', file], {boxHome: home});
    assert.equal(result.exitCode, 1);
    assert.equal(json.error.code, 'ERR_NO_SPACE');
    assert.match(json.error.message, new RegExp(`^The file system of BOX_HOME \\(${home}\\) has no room for this box: it needs at least 6\\.\\d MiB, and [0-9.]+ [KM]iB is free\\.$`));
    assert.equal(json.error.details.neededBytes, body.length);
    assert.deepEqual(await leftovers(home), []);
  });

  test('the disk filling up during an http add is reported as a full BOX_HOME, and the partial download is removed', async () => {
    const home = path.join(mountPoint(), 'home-b');
    const result = await box(['box', 'add', 'big', url, '--checksum', sha256(body)], {boxHome: home});
    assert.equal(result.exitCode, 1, String(result.stderr));
    assert.match(String(result.stderr), /The file system of BOX_HOME \(.*home-b\) has no room for this box: it needs more than the [0-9.]+ [KM]iB written before the disk filled, and [0-9.]+ [KM]?i?B is free\./);
    assert.doesNotMatch(String(result.stderr), /not a valid box archive|check that the download is complete/);
    assert.deepEqual(await leftovers(home), []);
    assert.equal(existsSync(path.join(home, 'boxes', 'big')), false);
    await rm(home, {recursive: true, force: true});
  });
});

describe('box box add: names and text from catalogs', () => {
  test('a catalog naming its box ".." is refused and nothing is written outside boxes/', async () => {
    const home = path.join(work.dir, 'home-cat');
    const boxFile = await writeBox(path.join(work.dir, 'cat-ok.box'), await makeTar([{name: 'metadata.json', content: libvirtMetadata}, {name: 'box.img', content: qcow2Image()}]));
    for (const [label, catalog, field] of [
      ['name', {name: '..', versions: [{version: '1.0.0', providers: [{name: 'libvirt', url: boxFile}]}]}, /name "\.\." must be letters/],
      ['org/..', {name: 'acme/..', versions: [{version: '1.0.0', providers: [{name: 'libvirt', url: boxFile}]}]}, /name "acme\/\.\." must be letters/],
      ['version', {name: 'acme/x', versions: [{version: '1.0/../../../escape', providers: [{name: 'libvirt', url: boxFile}]}]}, /versions\.0\.version "1\.0\/\.\.\/\.\.\/\.\.\/escape" is not a box version/],
      ['version with a newline', {name: 'acme/x', versions: [{version: '1.0\n', providers: [{name: 'libvirt', url: boxFile}]}]}, /versions\.0\.version "1\.0\\n" is not a box version/],
      ['provider', {name: 'acme/x', versions: [{version: '1.0.0', providers: [{name: '../../p', url: boxFile}]}]}, /versions\.0\.providers\.0\.name "\.\.\/\.\.\/p" must be letters/],
    ] as const) {
      const catalogFile = path.join(work.dir, `catalog-${label.replace(/\W/g, '-')}.json`);
      await writeFile(catalogFile, JSON.stringify(catalog));
      const {result, json} = await boxJson(['box', 'add', catalogFile], {boxHome: home});
      assert.equal(result.exitCode, 1, label);
      assert.equal(json.error.code, 'ERR_CATALOG', label);
      assert.match(json.error.message, field, label);
    }
    assert.deepEqual(await readdir(home).catch(() => []), [], 'nothing at all in BOX_HOME');
  });

  test('control characters from a catalog are escaped in messages, never sent to the terminal', async () => {
    const home = path.join(work.dir, 'home-esc');
    const catalogFile = path.join(work.dir, 'catalog-esc.json');
    await writeFile(catalogFile, JSON.stringify({name: 'evil\u001b[2J\u001b]0;pwned\u0007', versions: []}));
    const result = await box(['box', 'add', catalogFile], {boxHome: home});
    assert.equal(result.exitCode, 1);
    assert.doesNotMatch(String(result.stderr), /[\u0000-\u0008\u000b-\u001f\u007f]/, 'no raw control character on stderr');
    assert.match(String(result.stderr), /name "evil\\x1b\[2J\\x1b\]0;pwned\\x07" must be letters/);
  });
});
