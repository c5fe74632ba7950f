import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {createHash} from 'node:crypto';
import {mkdir, readdir, readFile, writeFile} from 'node:fs/promises';
import http from 'node:http';
import type {AddressInfo} from 'node:net';
import path from 'node:path';
import {fetchVerified, isoCachePath, isoIdentityForKey, resolveChecksum} from '../../src/builder/methods/iso/download-iso.js';
import {silentUi} from '../../src/core/ui.js';
import {tempDir} from '../helpers/cli.js';

const body = Buffer.alloc(300_000, 7);
for (let i = 0; i < body.length; i += 997) body[i] = i % 251;
const sha = createHash('sha256').update(body).digest('hex');

describe('installer ISO download and verification', () => {
  let tmp: {dir: string; cleanup: () => Promise<void>};
  let server: http.Server;
  let base: string;
  const requests: Array<{url: string; range?: string; ifRange?: string}> = [];
  let ignoreRange = false;
  /** /etag.iso: its ETag, and whether it stalls after 64 KiB (an interrupted download). */
  let etag = '"v1"';
  let etagStalls = true;
  const savedHome = process.env.BOX_HOME;

  before(async () => {
    tmp = await tempDir('box-iso-dl-');
    process.env.BOX_HOME = path.join(tmp.dir, 'home');
    server = http.createServer((req, res) => {
      requests.push({url: req.url!, range: req.headers.range, ifRange: req.headers['if-range'] as string | undefined});
      if (req.url === '/etag.iso') {
        if (etagStalls) {
          res.writeHead(200, {'content-length': body.length, etag});
          res.write(body.subarray(0, 64 * 1024));
          return;
        }
        const start = Number(/bytes=(\d+)-/.exec(req.headers.range ?? '')?.[1] ?? 0);
        // If-Range: the range only while the file is the one the partial came from.
        if (start > 0 && req.headers['if-range'] === etag) {
          res.writeHead(206, {etag, 'content-range': `bytes ${start}-${body.length - 1}/${body.length}`, 'content-length': body.length - start});
          return void res.end(body.subarray(start));
        }
        return void res.writeHead(200, {etag, 'content-length': body.length}).end(body);
      }
      if (req.url === '/SHA256SUMS') return void res.end(`${'0'.repeat(64)}  other.iso\n${sha} *os.iso\n`);
      if (req.url === '/slow.iso') {
        // Half the file, then nothing: the client has to give up (Ctrl-C).
        res.writeHead(200, {'content-length': body.length});
        res.write(body.subarray(0, 64 * 1024));
        return;
      }
      if (req.url === '/CHECKSUM') return void res.end(`# comment\nSHA256 (os.iso) = ${sha}\n`);
      if (req.url !== '/os.iso' && req.url !== '/mirror/os.iso') return void res.writeHead(404).end();
      const m = /bytes=(\d+)-/.exec(req.headers.range ?? '');
      if (m && !ignoreRange) {
        const start = Number(m[1]);
        res.writeHead(206, {'content-range': `bytes ${start}-${body.length - 1}/${body.length}`, 'content-length': body.length - start});
        return void res.end(body.subarray(start));
      }
      res.writeHead(200, {'content-length': body.length}).end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    server.closeAllConnections();
    server.close();
    process.env.BOX_HOME = savedHome;
    await tmp.cleanup();
  });

  const opts = () => ({base: tmp.dir, ui: silentUi(), signal: new AbortController().signal, label: 'iso'});

  test('checksums are read inline, from GNU-style and from BSD-style SUMS files', async () => {
    assert.deepEqual(await resolveChecksum(`sha256:${sha.toUpperCase()}`, 'x.iso', tmp.dir), {algorithm: 'sha256', hex: sha});
    assert.deepEqual(await resolveChecksum(`file:${base}/SHA256SUMS`, `${base}/os.iso`, tmp.dir), {algorithm: 'sha256', hex: sha});
    assert.deepEqual(await resolveChecksum(`file:${base}/CHECKSUM`, `${base}/os.iso`, tmp.dir), {algorithm: 'sha256', hex: sha});
    assert.equal(await resolveChecksum('none', 'x.iso', tmp.dir), null);
    await assert.rejects(resolveChecksum(`file:${base}/SHA256SUMS`, `${base}/missing.iso`, tmp.dir), /has no line for "missing\.iso"/);
  });

  test('the cache key of a SUMS-file checksum is the same offline as online, and a local ISO without one is keyed by size and time', async () => {
    const online = await isoIdentityForKey(`file:${base}/SHA256SUMS`, `${base}/os.iso`, tmp.dir);
    assert.equal(online, `sha256:${sha}`);
    // The same SUMS URL on a port where nothing listens stands for "offline": remembered value.
    const deadBase = 'http://127.0.0.1:9';
    assert.equal(await isoIdentityForKey(`file:${deadBase}/SHA256SUMS`, `${deadBase}/os.iso`, tmp.dir), `file:${deadBase}/SHA256SUMS`, 'never resolved: the spec stands in');
    const memo = path.join(process.env.BOX_HOME!, 'cache', 'resolved-checksums.json');
    const remembered = JSON.parse(await readFile(memo, 'utf8'));
    remembered[`file:${deadBase}/SHA256SUMS ${deadBase}/os.iso`] = online;
    await writeFile(memo, JSON.stringify(remembered));
    assert.equal(await isoIdentityForKey(`file:${deadBase}/SHA256SUMS`, `${deadBase}/os.iso`, tmp.dir), online, 'offline: the value seen last time');

    const local = path.join(tmp.dir, 'local.iso');
    await writeFile(local, 'an iso');
    const first = await isoIdentityForKey('none', local, tmp.dir);
    assert.match(first, /^none size=6 mtime=\d+$/);
    await writeFile(local, 'another iso');
    assert.notEqual(await isoIdentityForKey('none', local, tmp.dir), first, 'a changed local ISO changes the key');
  });

  test('a remote ISO is downloaded into the cache keyed by its checksum, verified, then served from the cache', async () => {
    const checksum = {algorithm: 'sha256' as const, hex: sha};
    const file = await fetchVerified(`${base}/os.iso`, checksum, opts());
    assert.equal(file, isoCachePath(checksum, 'ignored'));
    assert.match(path.basename(file), new RegExp(`^sha256-${sha}\\.iso$`));
    assert.deepEqual(await readFile(file), body);
    const before = requests.length;
    // Another URL with the same checksum hits the cache: no request at all.
    assert.equal(await fetchVerified(`${base}/mirror/os.iso`, checksum, opts()), file);
    assert.equal(requests.length, before);
  });

  test('an interrupted download resumes from its .part file with a Range request', async () => {
    const checksum = {algorithm: 'sha256' as const, hex: sha};
    process.env.BOX_HOME = path.join(tmp.dir, 'home-resume');
    const target = isoCachePath(checksum, '');
    await mkdir(path.dirname(target), {recursive: true});
    await writeFile(`${target}.part`, body.subarray(0, 100_000));
    const file = await fetchVerified(`${base}/os.iso`, checksum, opts());
    assert.equal(requests.at(-1)!.range, 'bytes=100000-');
    assert.deepEqual(await readFile(file), body);
  });

  test('a server that ignores Range makes the download start over, not append', async () => {
    const checksum = {algorithm: 'sha256' as const, hex: sha};
    process.env.BOX_HOME = path.join(tmp.dir, 'home-norange');
    const target = isoCachePath(checksum, '');
    await mkdir(path.dirname(target), {recursive: true});
    await writeFile(`${target}.part`, body.subarray(0, 50_000));
    ignoreRange = true;
    try {
      assert.deepEqual(await readFile(await fetchVerified(`${base}/os.iso`, checksum, opts())), body);
    } finally {
      ignoreRange = false;
    }
  });

  test('a resumed download sends If-Range with the ETag it first saw, and starts over when the file changed', async () => {
    const checksum = {algorithm: 'sha256' as const, hex: sha};
    for (const changed of [false, true]) {
      process.env.BOX_HOME = path.join(tmp.dir, `home-if-range-${changed}`);
      etag = '"v1"';
      etagStalls = true;
      const controller = new AbortController();
      const fetching = fetchVerified(`${base}/etag.iso`, checksum, {...opts(), signal: controller.signal});
      setTimeout(() => controller.abort(), 300);
      await assert.rejects(fetching, {code: 'ERR_INTERRUPTED'});
      etagStalls = false;
      if (changed) etag = '"v2"';
      const file = await fetchVerified(`${base}/etag.iso`, checksum, opts());
      const last = requests.at(-1)!;
      assert.match(last.range ?? '', /^bytes=[1-9]\d*-$/, 'a Range request for the rest');
      assert.equal(last.ifRange, '"v1"', 'guarded by the ETag of the interrupted download');
      assert.deepEqual(await readFile(file), body, changed ? 'the changed file was fetched from byte 0' : 'the rest was appended');
      assert.deepEqual((await readdir(path.dirname(file))).filter((f) => f.includes('.part')), [], 'no partial left');
    }
  });

  test('a checksum mismatch fails, names both sums and leaves no file in the cache', async () => {
    process.env.BOX_HOME = path.join(tmp.dir, 'home-bad');
    const wrong = {algorithm: 'sha256' as const, hex: 'a'.repeat(64)};
    await assert.rejects(fetchVerified(`${base}/os.iso`, wrong, opts()), (error: Error & {code?: string}) => {
      assert.equal(error.code, 'ERR_CHECKSUM');
      assert.ok(error.message.includes(sha) && error.message.includes('a'.repeat(64)));
      return true;
    });
    const files = await readdir(path.dirname(isoCachePath(wrong, '')));
    assert.deepEqual(files.filter((f) => f.endsWith('.iso')), []);
  });

  test('Ctrl-C during a download stops it with ERR_INTERRUPTED, keeps the .part to resume and never creates the .iso', async () => {
    process.env.BOX_HOME = path.join(tmp.dir, 'home-cancel');
    const checksum = {algorithm: 'sha256' as const, hex: sha};
    const controller = new AbortController();
    const fetching = fetchVerified(`${base}/slow.iso`, checksum, {...opts(), signal: controller.signal});
    setTimeout(() => controller.abort(), 300);
    await assert.rejects(fetching, {code: 'ERR_INTERRUPTED'});
    const files = await readdir(path.dirname(isoCachePath(checksum, '')));
    assert.deepEqual(files, [`sha256-${sha}.iso.part`]);
  });

  test('a local path is verified and used in place', async () => {
    const local = path.join(tmp.dir, 'local.iso');
    await writeFile(local, body);
    assert.equal(await fetchVerified(local, {algorithm: 'sha256', hex: sha}, opts()), local);
    assert.equal(await fetchVerified(`file://${local}`, null, opts()), local);
    await assert.rejects(fetchVerified(local, {algorithm: 'sha256', hex: 'b'.repeat(64)}, opts()), /expected b{64}/);
    await assert.rejects(fetchVerified(path.join(tmp.dir, 'nope.iso'), null, opts()), {code: 'ERR_ISO_NOT_FOUND'});
  });
});
