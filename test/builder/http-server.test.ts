import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {mkdir, writeFile} from 'node:fs/promises';
import path from 'node:path';
import got from 'got';
import {BuildHttpServer, type HttpRequestLog} from '../../src/builder/http-server.js';
import {BoxError} from '../../src/core/errors.js';
import {tempDir} from '../helpers/cli.js';

describe('build HTTP server', () => {
  let tmp: {dir: string; cleanup: () => Promise<void>};
  let server: BuildHttpServer;
  const seen: HttpRequestLog[] = [];
  let base: string;

  before(async () => {
    tmp = await tempDir('box-http-');
    await mkdir(path.join(tmp.dir, 'http', 'scripts'), {recursive: true});
    await writeFile(path.join(tmp.dir, 'http', 'scripts', 'late.sh'), 'echo late\n');
    await writeFile(path.join(tmp.dir, 'secret.txt'), 'not served');
    server = new BuildHttpServer({files: new Map([['preseed.cfg', 'd-i x string y\n'], ['autoinst.xml', '<profile/>']]), directory: path.join(tmp.dir, 'http'), onRequest: (e) => seen.push(e)});
    const port = await server.start();
    base = `http://127.0.0.1:${port}`;
  });

  after(async () => {
    await server.stop();
    await tmp.cleanup();
  });

  test('it listens on loopback on a free port', () => {
    assert.ok(server.port > 0);
    assert.ok(server.listening);
  });

  test('it serves rendered answer files from memory with a content type', async () => {
    const res = await got(`${base}/preseed.cfg`);
    assert.equal(res.body, 'd-i x string y\n');
    assert.match(res.headers['content-type'] ?? '', /text\/plain/);
    assert.match((await got(`${base}/autoinst.xml`)).headers['content-type'] ?? '', /xml/);
  });

  test('it serves files from the http folder, and never outside it', async () => {
    assert.equal((await got(`${base}/scripts/late.sh`)).body, 'echo late\n');
    const escape = await got(`${base}/..%2Fsecret.txt`, {throwHttpErrors: false});
    assert.equal(escape.statusCode, 404);
  });

  test('a malformed URL is a 400, logged, and the server keeps serving', async () => {
    assert.equal((await got(`${base}/%E0%A4%A`, {throwHttpErrors: false})).statusCode, 400);
    assert.ok(server.log.some((e) => e.status === 400));
    assert.ok(seen.some((e) => e.status === 400 && e.path === '/%E0%A4%A'), 'reported to onRequest, as the build prints every request');
    assert.equal((await got(`${base}/preseed.cfg`)).statusCode, 200);
  });

  test('unknown paths are 404 and other methods 405', async () => {
    assert.equal((await got(`${base}/nope.cfg`, {throwHttpErrors: false})).statusCode, 404);
    assert.equal((await got.post(`${base}/preseed.cfg`, {throwHttpErrors: false})).statusCode, 405);
  });

  test('every request is logged with method, path, status, size and client address', async () => {
    await got(`${base}/nope2`, {throwHttpErrors: false});
    const entry = server.log.find((e) => e.path === '/nope2')!;
    assert.equal(entry.status, 404);
    assert.equal(entry.method, 'GET');
    assert.equal(entry.remote, '127.0.0.1');
    assert.ok(seen.some((e) => e.path === '/preseed.cfg' && e.status === 200 && e.bytes === 15));
  });

  test('waitForFetch resolves when the path is fetched later', async () => {
    const fresh = new BuildHttpServer({files: new Map([['ks.cfg', 'text\n']])});
    const port = await fresh.start();
    try {
      assert.equal(fresh.fetched('ks.cfg'), false);
      const waiting = fresh.waitForFetch('/ks.cfg', {timeoutMs: 5000});
      await got(`http://127.0.0.1:${port}/nope`, {throwHttpErrors: false});
      await got(`http://127.0.0.1:${port}/ks.cfg`);
      await waiting;
      assert.equal(fresh.fetched('ks.cfg'), true);
      await fresh.waitForFetch('ks.cfg', {timeoutMs: 1}); // already fetched: at once
    } finally {
      await fresh.stop();
    }
  });

  test('waitForFetch times out with a message naming firewalls, networks and the requests seen', async () => {
    await assert.rejects(server.waitForFetch('user-data', {timeoutMs: 100}), (error: BoxError) => {
      assert.equal(error.code, 'ERR_ANSWER_NOT_FETCHED');
      assert.match(error.message, /did not fetch \/user-data .* within 0 s \(requests seen: GET \/preseed\.cfg 200/);
      assert.match(error.hint ?? '', /firewall/);
      assert.match(error.hint ?? '', /network/);
      return true;
    });
  });

  test('waitForFetch stops when the build is cancelled', async () => {
    const controller = new AbortController();
    const waiting = server.waitForFetch('never', {timeoutMs: 60_000, signal: controller.signal});
    controller.abort();
    await assert.rejects(waiting, {code: 'ERR_INTERRUPTED'});
  });

  test('stop closes the port', async () => {
    const s = new BuildHttpServer({files: new Map()});
    const port = await s.start();
    await s.stop();
    assert.equal(s.listening, false);
    await assert.rejects(got(`http://127.0.0.1:${port}/`, {retry: {limit: 0}}), /ECONNREFUSED/);
  });
});
