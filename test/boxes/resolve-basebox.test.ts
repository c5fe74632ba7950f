import {after, before, beforeEach, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {rm, writeFile} from 'node:fs/promises';
import path from 'node:path';
import type {BaseboxRef} from '../../src/boxfile/project.js';
import {BoxError} from '../../src/core/errors.js';
import {silentUi} from '../../src/core/ui.js';
import {addBox} from '../../src/boxes/add.js';
import {nameFromLocation, resolveBasebox} from '../../src/boxes/resolve.js';
import {tempDir} from '../helpers/cli.js';
import {goodBox, sha256, startServer, writeBox, type TestServer} from '../fixtures/boxes/make-box.js';

let work: {dir: string; cleanup: () => Promise<void>};
let server: TestServer;
let oldHome: string | undefined;
let boxFile: string;
let data: Buffer;
const home = (): string => path.join(work.dir, 'home');
const ctx = {provider: 'libvirt', ui: silentUi(), signal: new AbortController().signal};
const ref = (r: Partial<BaseboxRef> & {name: string}): BaseboxRef => ({raw: r.name, kind: 'store', ...r});

before(async () => {
  work = await tempDir('box-resolve-');
  oldHome = process.env.BOX_HOME;
  process.env.BOX_HOME = home();
  data = await goodBox();
  boxFile = await writeBox(path.join(work.dir, 'debian-12.box'), data);
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
});

describe('resolveBasebox', () => {
  test('a store name resolves to the newest installed version matching the constraint', async () => {
    for (const version of ['1.0.0', '1.4.0', '2.0.0']) await addBox({source: boxFile, name: 'deb', version, ...ctx});
    const found = await resolveBasebox(ref({name: 'deb', versionConstraint: '>= 1.0, < 2'}), ctx);
    assert.equal(found.version, '1.4.0');
    assert.equal(found.provider, 'libvirt');
    assert.equal(found.metadata.format, 'qcow2');
    assert.equal(found.dir, path.join(home(), 'boxes', 'deb', '1.4.0', 'libvirt'));
    assert.equal((await resolveBasebox(ref({name: 'deb'}), ctx)).version, '2.0.0');
  });

  test('a missing store box is ERR_BOX_NOT_FOUND with a box box add hint listing what is installed', async () => {
    await addBox({source: boxFile, name: 'deb', version: '1.0.0', ...ctx});
    await assert.rejects(resolveBasebox(ref({name: 'deb', versionConstraint: '>= 3'}), ctx), (error: unknown) => {
      assert.ok(error instanceof BoxError);
      assert.equal(error.code, 'ERR_BOX_NOT_FOUND');
      assert.match(error.message, /Box deb \(>= 3\) for provider libvirt is not installed/);
      assert.match(error.hint ?? '', /box box add deb FILE\|URL/);
      assert.match(error.hint ?? '', /Installed versions of deb: 1\.0\.0 \(libvirt\)/);
      return true;
    });
    await assert.rejects(resolveBasebox(ref({name: 'deb'}), {...ctx, provider: 'virtualbox'}), {code: 'ERR_BOX_NOT_FOUND'});
  });

  test('a store name with basebox_url is added from the catalog when absent, then found without a download', async () => {
    server.files.set('/deb.box', {body: data});
    server.files.set('/deb.json', {contentType: 'application/json', body: Buffer.from(JSON.stringify({name: 'org/deb', versions: [
      {version: '1.0.0', providers: [{name: 'libvirt', url: 'deb.box', checksum_type: 'sha256', checksum: sha256(data)}]},
      {version: '3.0.0', providers: [{name: 'libvirt', url: 'missing.box'}]},
    ]}))});
    const first = await resolveBasebox(ref({name: 'org/deb', versionConstraint: '< 2', url: `${server.url}/deb.json`}), ctx);
    assert.equal(first.version, '1.0.0');
    const gets = server.requests.filter((r) => r.method === 'GET' && r.path === '/deb.box').length;
    assert.equal(gets, 1);
    const again = await resolveBasebox(ref({name: 'org/deb', versionConstraint: '< 2', url: `${server.url}/deb.json`}), ctx);
    assert.equal(again.dir, first.dir);
    assert.equal(server.requests.filter((r) => r.method === 'GET' && r.path === '/deb.box').length, 1, 'an installed box is not downloaded again');
  });

  test('a file basebox is added under its file name (version 0) once and reused', async () => {
    const first = await resolveBasebox({raw: boxFile, kind: 'file', name: boxFile}, ctx);
    assert.equal(first.name, 'debian-12');
    assert.equal(first.version, '0');
    await writeFile(boxFile + '.note', 'unrelated');
    const again = await resolveBasebox({raw: boxFile, kind: 'file', name: boxFile}, ctx);
    assert.equal(again.dir, first.dir);
  });

  test('a URL basebox is downloaded and stored under the name in its path', async () => {
    server.files.set('/dl/alpine-3.19.box', {body: data});
    const found = await resolveBasebox({raw: 'u', kind: 'url', name: `${server.url}/dl/alpine-3.19.box`}, ctx);
    assert.equal(found.name, 'alpine-3.19');
    assert.equal(nameFromLocation('https://x.example/a/debian-12.tar.gz?token=1'), 'debian-12');
  });

  test('two machines resolving the same missing box at once share one download', async () => {
    server.files.set('/dl/shared.box', {body: data});
    const r = {raw: 'u', kind: 'url' as const, name: `${server.url}/dl/shared.box`};
    const [a, b] = await Promise.all([resolveBasebox(r, ctx), resolveBasebox(r, ctx)]);
    assert.equal(a.dir, b.dir);
    assert.equal(server.requests.filter((q) => q.method === 'GET' && q.path === '/dl/shared.box').length, 1);
  });
});
