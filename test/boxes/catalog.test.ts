import {after, before, beforeEach, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {createHash} from 'node:crypto';
import {mkdir, readFile, rm, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {chooseFromCatalog, parseCatalog, writeCatalog} from '../../src/boxes/catalog.js';
import {BoxError} from '../../src/core/errors.js';
import {silentUi} from '../../src/core/ui.js';
import {addBox} from '../../src/boxes/add.js';
import {tempDir} from '../helpers/cli.js';
import {goodBox, sha256, startServer, type TestServer} from '../fixtures/boxes/make-box.js';

let work: {dir: string; cleanup: () => Promise<void>};
let server: TestServer;
let oldHome: string | undefined;
const home = (): string => path.join(work.dir, 'home');
const signal = new AbortController().signal;
const hash = (type: string, data: Buffer): string => createHash(type).update(data).digest('hex');

const catalogJson = {
  name: 'acme/debian',
  description: 'test catalog',
  versions: [
    {version: '0.9', providers: [{name: 'libvirt', url: 'old.box'}]},
    {version: '1.0.0', providers: [{name: 'libvirt', url: 'boxes/1.0.0.box'}]},
    {version: '1.5.0', providers: [{name: 'libvirt', url: 'boxes/1.5.0.box'}, {name: 'virtualbox', url: 'boxes/vb.box'}]},
    {version: '2.0.0', providers: [{name: 'libvirt', url: '/abs/2.0.0.box'}]},
    {version: '2.1.0', providers: [{name: 'virtualbox', url: 'https://mirror.example/vb-2.1.box'}]},
  ],
};

before(async () => {
  work = await tempDir('box-catalog-');
  oldHome = process.env.BOX_HOME;
  process.env.BOX_HOME = home();
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
  server.files.clear();
});

describe('choosing from a Vagrant catalog', () => {
  const catalog = parseCatalog(JSON.stringify(catalogJson), 'test');
  const http = {kind: 'http' as const, url: 'http://boxes.example/catalogs/debian.json', display: 'x'};

  test('the newest version matching the constraint for the provider wins', () => {
    assert.equal(chooseFromCatalog(catalog, http, {constraint: '>= 1.0, < 2', provider: 'libvirt'}).version, '1.5.0');
    assert.equal(chooseFromCatalog(catalog, http, {provider: 'libvirt'}).version, '2.0.0');
    assert.equal(chooseFromCatalog(catalog, http, {provider: 'virtualbox'}).version, '2.1.0');
    assert.equal(chooseFromCatalog(catalog, http, {constraint: '< 1'}).version, '0.9');
  });

  test('relative urls resolve against the catalog location, absolute ones are kept', () => {
    assert.equal(chooseFromCatalog(catalog, http, {constraint: '1.0.0'}).url, 'http://boxes.example/catalogs/boxes/1.0.0.box');
    assert.equal(chooseFromCatalog(catalog, http, {constraint: '2.0.0'}).url, 'http://boxes.example/abs/2.0.0.box');
    assert.equal(chooseFromCatalog(catalog, http, {provider: 'virtualbox'}).url, 'https://mirror.example/vb-2.1.box');
    const file = {kind: 'file' as const, path: '/srv/cat/debian.json', display: '/srv/cat/debian.json'};
    assert.equal(chooseFromCatalog(catalog, file, {constraint: '1.0.0'}).url, 'file:///srv/cat/boxes/1.0.0.box');
  });

  test('a version offered for several providers needs --provider', () => {
    assert.throws(() => chooseFromCatalog(catalog, http, {constraint: '1.5.0'}), (e: unknown) => {
      assert.ok(e instanceof BoxError);
      assert.equal(e.code, 'ERR_CATALOG_PROVIDER');
      assert.match(e.message, /libvirt, virtualbox/);
      assert.match(e.hint ?? '', /--provider/);
      return true;
    });
  });

  test('no match names the constraint and lists the versions', () => {
    assert.throws(() => chooseFromCatalog(catalog, http, {constraint: '>= 3', provider: 'libvirt'}), (e: unknown) => {
      assert.ok(e instanceof BoxError);
      assert.equal(e.code, 'ERR_CATALOG_NO_MATCH');
      assert.match(e.message, /matches ">= 3" for provider libvirt/);
      assert.match(e.message, /1\.5\.0 \(libvirt, virtualbox\)/);
      return true;
    });
    assert.throws(() => chooseFromCatalog(catalog, http, {provider: 'aws'}), /no version for provider "aws"/);
  });

  test('an invalid catalog names the bad field', () => {
    assert.throws(() => parseCatalog('{"versions": []}', 'c.json'), /Catalog c\.json is invalid: name/);
    assert.throws(() => parseCatalog('{"name": "x", "versions": [{"version": "one", "providers": []}]}', 'c.json'), /versions\.0\.version "one" is not a box version/);
  });
});

describe('adding from a catalog', () => {
  test('a catalog over HTTP installs the chosen version from its relative url, with each checksum type', async () => {
    for (const type of ['md5', 'sha1', 'sha256', 'sha384', 'sha512']) {
      await rm(home(), {recursive: true, force: true});
      const data = await goodBox({seed: type});
      server.files.set(`/cat/boxes/${type}.box`, {body: data});
      server.files.set('/cat/debian.json', {contentType: 'application/json', body: Buffer.from(JSON.stringify({
        name: 'acme/debian',
        versions: [
          {version: '1.0.0', providers: [{name: 'libvirt', url: 'boxes/nope.box'}]},
          {version: '1.2.0', providers: [{name: 'libvirt', url: `boxes/${type}.box`, checksum_type: type, checksum: hash(type, data).toUpperCase()}]},
          {version: '2.0.0', providers: [{name: 'libvirt', url: 'boxes/nope.box'}]},
        ],
      }))});
      const added = await addBox({source: `${server.url}/cat/debian.json`, version: '>= 1.1, < 2', provider: 'libvirt', ui: silentUi(), signal});
      assert.equal(added.name, 'acme/debian');
      assert.equal(added.version, '1.2.0');
      assert.deepEqual(added.checksum, {type, value: hash(type, data)});
      assert.equal(added.dir, path.join(home(), 'boxes', 'acme-VAGRANTSLASH-debian', '1.2.0', 'libvirt'));
      assert.equal(await readFile(path.join(home(), 'boxes', 'acme-VAGRANTSLASH-debian', 'metadata_url'), 'utf8'), `${server.url}/cat/debian.json`);
    }
  });

  test('a catalog whose checksum does not match leaves nothing installed', async () => {
    const data = await goodBox();
    server.files.set('/c/x.box', {body: data});
    server.files.set('/c/cat', {contentType: 'application/json; charset=utf-8', body: Buffer.from(JSON.stringify({name: 'bad', versions: [{version: '1', providers: [{name: 'libvirt', url: 'x.box', checksum_type: 'sha256', checksum: '0'.repeat(64)}]}]}))});
    await assert.rejects(addBox({source: `${server.url}/c/cat`, ui: silentUi(), signal}), {code: 'ERR_BOX_CHECKSUM'});
    await assert.rejects(readFile(path.join(home(), 'boxes', 'bad', 'metadata_url')), {code: 'ENOENT'});
  });

  test('a local catalog file resolves relative urls against its own folder', async () => {
    const dir = path.join(work.dir, 'local-cat');
    await mkdir(path.join(dir, 'files'), {recursive: true});
    const data = await goodBox({gzip: true});
    await writeFile(path.join(dir, 'files', 'a.box'), data);
    await writeFile(path.join(dir, 'cat.json'), JSON.stringify({name: 'local', versions: [{version: '3.1', providers: [{name: 'libvirt', url: 'files/a.box', checksum_type: 'sha256', checksum: sha256(data)}]}]}));
    const added = await addBox({source: path.join(dir, 'cat.json'), ui: silentUi(), signal});
    assert.equal(added.version, '3.1');
    assert.equal(added.source, path.join(dir, 'files', 'a.box'));
    await assert.rejects(addBox({source: path.join(dir, 'cat.json'), name: 'other', ui: silentUi(), signal}), {code: 'ERR_CATALOG_NAME'});
  });
});

describe('writing a catalog', () => {
  test('versions are added, kept, replaced per provider and sorted', async () => {
    const file = path.join(work.dir, 'written', 'cat.json');
    await mkdir(path.dirname(file), {recursive: true});
    await writeCatalog({name: 'w', version: '1.10.0', provider: 'libvirt', url: 'w-1.10.box', sha256: 'a'.repeat(64), description: 'desc'}, file);
    await writeCatalog({name: 'w', version: '1.9.0', provider: 'libvirt', url: 'w-1.9.box', sha256: 'b'.repeat(64)}, file);
    await writeCatalog({name: 'w', version: '1.10.0', provider: 'virtualbox', url: 'w-vb.box', sha256: 'c'.repeat(64)}, file);
    await writeCatalog({name: 'w', version: '1.10.0', provider: 'libvirt', url: 'w-1.10b.box', sha256: 'd'.repeat(64)}, file);
    const written = JSON.parse(await readFile(file, 'utf8'));
    assert.equal(written.description, 'desc');
    assert.deepEqual(written.versions.map((v: {version: string}) => v.version), ['1.9.0', '1.10.0']);
    assert.deepEqual(written.versions[1].providers, [
      {name: 'libvirt', url: 'w-1.10b.box', checksum_type: 'sha256', checksum: 'd'.repeat(64)},
      {name: 'virtualbox', url: 'w-vb.box', checksum_type: 'sha256', checksum: 'c'.repeat(64)},
    ]);
    await assert.rejects(writeCatalog({name: 'other', version: '1', provider: 'libvirt', url: 'x', sha256: 'e'}, file), /is for "w", not "other"/);
  });
});
