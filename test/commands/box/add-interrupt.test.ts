import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {execa} from 'execa';
import {readdir, stat} from 'node:fs/promises';
import http from 'node:http';
import type {AddressInfo} from 'node:net';
import path from 'node:path';
import {boxBin, boxJson, repoRoot, tempDir} from '../../helpers/cli.js';
import {goodBox, sha256} from '../../fixtures/boxes/make-box.js';

// Ctrl-C during a slow download: exit 130, no temporary folder left in the store, the bytes
// received so far kept; the next run resumes from them and installs the box.
let work: {dir: string; cleanup: () => Promise<void>};
let server: http.Server;
let url: string;
let data: Buffer;
let slow = true;
const ranges: Array<string | undefined> = [];

before(async () => {
  work = await tempDir('box-interrupt-');
  data = await goodBox({imageBytes: 1024 * 1024});
  server = http.createServer((req, res) => {
    ranges.push(req.headers.range);
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = m ? Number(m[1]) : 0;
    const body = data.subarray(start);
    res.writeHead(m ? 206 : 200, {
      'content-length': body.length,
      'accept-ranges': 'bytes',
      ...(m ? {'content-range': `bytes ${start}-${data.length - 1}/${data.length}`} : {}),
    });
    if (req.method === 'HEAD') return res.end();
    if (!slow) return res.end(body);
    // Trickle: 64 KiB now, then nothing (the client is interrupted while waiting).
    res.write(body.subarray(0, 64 * 1024));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/slow.box`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await work.cleanup();
});

describe('interrupting box box add', () => {
  test('Ctrl-C exits 130, leaves no temp folder, keeps the partial download, and the next run resumes', async () => {
    const boxHome = path.join(work.dir, 'home');
    const child = execa(process.execPath, [boxBin, 'box', 'add', 'slow', url], {cwd: repoRoot, env: {BOX_HOME: boxHome, NO_COLOR: '1'}, reject: false});
    const downloads = path.join(boxHome, 'cache', 'downloads');
    // Wait until the first bytes are on disk.
    let received = 0;
    for (let i = 0; i < 600 && received < 64 * 1024; i++) {
      const parts = (await readdir(downloads).catch(() => [])).filter((f) => f.endsWith('.part'));
      received = parts.length ? (await stat(path.join(downloads, parts[0])).catch(() => ({size: 0}))).size : 0;
      if (received < 64 * 1024) await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(received, 64 * 1024, 'the first bytes arrived before Ctrl-C');
    child.kill('SIGINT');
    const result = await child;
    assert.equal(result.exitCode, 130, String(result.stderr));
    assert.match(String(result.stderr), /Interrupted/);
    assert.deepEqual(await readdir(path.join(boxHome, 'boxes')).catch(() => []), [], 'no box folder or temp folder left');
    const parts = (await readdir(downloads)).filter((f) => f.endsWith('.part'));
    assert.equal((await stat(path.join(downloads, parts[0]))).size, 64 * 1024);

    slow = false;
    const {result: again, json} = await boxJson(['box', 'add', 'slow', url, '--checksum', sha256(data)], {boxHome});
    assert.equal(again.exitCode, 0, String(again.stderr));
    assert.equal(json.resumedFrom, 64 * 1024);
    assert.equal(ranges.at(-1), `bytes=${64 * 1024}-`);
  });
});
