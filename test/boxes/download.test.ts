import {after, before, beforeEach, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {existsSync} from 'node:fs';
import {readdir, readFile, rm, stat} from 'node:fs/promises';
import path from 'node:path';
import {BoxError} from '../../src/core/errors.js';
import {silentUi} from '../../src/core/ui.js';
import {addBox} from '../../src/boxes/add.js';
import {tempDir} from '../helpers/cli.js';
import {goodBox, qcow2Image, sha256, startServer, type TestServer} from '../fixtures/boxes/make-box.js';

// Downloads against a real HTTP server on 127.0.0.1 (Range support, faults on demand).
let work: {dir: string; cleanup: () => Promise<void>};
let server: TestServer;
let oldHome: string | undefined;
let box: Buffer;
const home = (): string => path.join(work.dir, 'home');
const signal = new AbortController().signal;

before(async () => {
  work = await tempDir('box-download-');
  oldHome = process.env.BOX_HOME;
  process.env.BOX_HOME = home();
  box = await goodBox({gzip: false, imageBytes: 2 * 1024 * 1024});
  server = await startServer();
});

after(async () => {
  await server.close();
  if (oldHome === undefined) delete process.env.BOX_HOME;
  else process.env.BOX_HOME = oldHome;
  await work.cleanup();
});

beforeEach(async () => {
  await rm(home(), {recursive: true, force: true});
  server.requests.length = 0;
  server.files.clear();
});

async function downloads(): Promise<string[]> {
  return readdir(path.join(home(), 'cache', 'downloads')).catch(() => []);
}

async function storeEntries(): Promise<string[]> {
  return readdir(path.join(home(), 'boxes'), {recursive: true}).catch(() => []);
}

describe('downloading boxes over HTTP', () => {
  test('a box served over HTTP is installed and its sha256 verified while streaming', async () => {
    server.files.set('/b.box', {body: box});
    const added = await addBox({source: `${server.url}/b.box`, name: 'web', version: '1.0.0', checksum: {type: 'sha256', value: sha256(box)}, ui: silentUi(), signal});
    assert.equal(added.sha256, sha256(box));
    assert.deepEqual(added.checksum, {type: 'sha256', value: sha256(box)});
    assert.equal((await stat(path.join(added.dir, 'box.img'))).size, qcow2Image().length + 2 * 1024 * 1024);
    assert.deepEqual(await downloads(), [], 'the partial download is removed after success');
  });

  test('a dropped connection is resumed within the same run with Range requests', async () => {
    server.files.set('/d.box', {body: box, dropAfter: 300_000, dropTimes: 2});
    const added = await addBox({source: `${server.url}/d.box`, name: 'dropped', checksum: {type: 'sha256', value: sha256(box)}, ui: silentUi(), signal});
    assert.equal(added.sha256, sha256(box));
    assert.equal(added.resumedFrom, 0);
    // Each resume asks for the bytes after those on disk: at most what the cut request sent (an
    // HTTP client may drop bytes it had buffered when the connection broke), and more each time.
    const ranges = server.requests.filter((r) => r.method === 'GET').map((r) => r.range);
    assert.equal(ranges.length, 3);
    assert.equal(ranges[0], undefined);
    const [first, second] = ranges.slice(1).map((r) => Number(/^bytes=(\d+)-$/.exec(r ?? '')?.[1]));
    assert.ok(first > 0 && first <= 300_000, `first resume at ${first}`);
    assert.ok(second > first && second <= first + 300_000, `second resume at ${second}`);
  });

  test('a download that keeps failing is kept and resumed with a Range request on the next run', async () => {
    const cut = 200_000;
    server.files.set('/r.box', {body: box, dropAfter: cut, dropTimes: 100});
    await assert.rejects(addBox({source: `${server.url}/r.box`, name: 'resume', ui: silentUi(), signal}), (error: unknown) => {
      assert.ok(error instanceof BoxError);
      assert.equal(error.code, 'ERR_DOWNLOAD');
      assert.match(error.message, new RegExp(`${server.url}/r.box`));
      assert.match(error.hint ?? '', /run the same command again to resume/);
      return true;
    });
    assert.equal(server.requests.filter((r) => r.method === 'GET').length, 4, 'one request and three in-run resumes');
    assert.deepEqual(await storeEntries(), [], 'nothing half-installed after the failure');
    const parts = (await downloads()).filter((f) => f.endsWith('.part'));
    assert.equal(parts.length, 1);
    const kept = (await stat(path.join(home(), 'cache', 'downloads', parts[0]))).size;
    assert.ok(kept > 0 && kept <= 4 * cut, `kept ${kept} bytes`);

    server.files.get('/r.box')!.dropTimes = 0;
    const added = await addBox({source: `${server.url}/r.box`, name: 'resume', checksum: {type: 'sha512', value: (await import('node:crypto')).createHash('sha512').update(box).digest('hex')}, ui: silentUi(), signal});
    assert.equal(added.resumedFrom, kept);
    assert.equal(added.sha256, sha256(box), 'the hash covers the whole file, kept part included');
    const get = server.requests.filter((r) => r.method === 'GET');
    assert.equal(get.at(-1)?.range, `bytes=${kept}-`);
    assert.deepEqual(await downloads(), []);
  });

  test('a server that ignores Range (answers 200) restarts the download cleanly from 0', async () => {
    server.files.set('/n.box', {body: box, dropAfter: 500_000, dropTimes: 1, ignoreRange: true});
    await assert.rejects(addBox({source: `${server.url}/n.box`, name: 'norange', ui: silentUi(), signal}), {code: 'ERR_DOWNLOAD'});
    assert.equal((await downloads()).filter((f) => f.endsWith('.part')).length, 1);
    const added = await addBox({source: `${server.url}/n.box`, name: 'norange', checksum: {type: 'sha256', value: sha256(box)}, ui: silentUi(), signal});
    assert.equal(added.resumedFrom, 0);
    assert.equal(added.sha256, sha256(box));
    assert.match(server.requests.filter((r) => r.method === 'GET').at(-1)?.range ?? '', /^bytes=\d+-$/, 'a Range was asked for');
  });

  test('HTTP 404 is a clear ERR_DOWNLOAD naming the URL, and leaves nothing behind', async () => {
    await assert.rejects(addBox({source: `${server.url}/missing.box`, name: 'missing', ui: silentUi(), signal}), (error: unknown) => {
      assert.ok(error instanceof BoxError);
      assert.equal(error.code, 'ERR_DOWNLOAD');
      assert.equal(error.message, `Download of ${server.url}/missing.box failed: HTTP 404 Not Found.`);
      assert.equal(error.details?.status, 404);
      return true;
    });
    assert.deepEqual(await storeEntries(), []);
    assert.deepEqual(await downloads(), []);
  });

  test('HTTP 500 is a clear ERR_DOWNLOAD with a retry hint', async () => {
    server.files.set('/e.box', {body: box, status: 503});
    await assert.rejects(addBox({source: `${server.url}/e.box`, name: 'err', ui: silentUi(), signal}), (error: unknown) => {
      assert.ok(error instanceof BoxError);
      assert.match(error.message, /HTTP 503/);
      assert.match(error.hint ?? '', /try again later/);
      return true;
    });
  });

  test('a wrong checksum is refused and nothing is left in the store or the download cache', async () => {
    server.files.set('/c.box', {body: box});
    await assert.rejects(addBox({source: `${server.url}/c.box`, name: 'badsum', checksum: {type: 'sha256', value: 'ab'.repeat(32)}, ui: silentUi(), signal}), (error: unknown) => {
      assert.ok(error instanceof BoxError);
      assert.equal(error.code, 'ERR_BOX_CHECKSUM');
      assert.match(error.message, new RegExp(`expected sha256 ${'ab'.repeat(32)}, got ${sha256(box)}`));
      return true;
    });
    assert.deepEqual(await storeEntries(), []);
    assert.deepEqual(await downloads(), [], 'a corrupt download is not kept for resuming');
  });

  test('an existing box is not replaced without force, and is replaced with it', async () => {
    server.files.set('/f.box', {body: box});
    const first = await addBox({source: `${server.url}/f.box`, name: 'force', version: '2', provider: 'libvirt', ui: silentUi(), signal});
    const gets = (): number => server.requests.filter((r) => r.method === 'GET').length;
    const count = gets();
    await assert.rejects(addBox({source: `${server.url}/f.box`, name: 'force', version: '2', provider: 'libvirt', ui: silentUi(), signal}), {code: 'ERR_BOX_EXISTS'});
    assert.equal(gets(), count, 'with a known provider the check happens before downloading');
    const second = await addBox({source: `${server.url}/f.box`, name: 'force', version: '2', provider: 'libvirt', force: true, ui: silentUi(), signal});
    assert.equal(second.dir, first.dir);
    assert.ok(existsSync(path.join(second.dir, 'metadata.json')));
    assert.deepEqual((await readdir(path.join(home(), 'boxes', 'force'))).sort(), ['2']);
    assert.equal(JSON.parse(await readFile(path.join(second.dir, 'metadata.json'), 'utf8')).provider, 'libvirt');
  });

  test('a provider that does not match metadata.json is refused', async () => {
    server.files.set('/p.box', {body: box});
    await assert.rejects(addBox({source: `${server.url}/p.box`, name: 'prov', provider: 'virtualbox', ui: silentUi(), signal}), {code: 'ERR_BOX_PROVIDER_MISMATCH'});
    assert.deepEqual(await storeEntries(), []);
  });
});
