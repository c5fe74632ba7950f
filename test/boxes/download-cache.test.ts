import {after, before, beforeEach, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {existsSync} from 'node:fs';
import {mkdir, readdir, rm, utimes, writeFile} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {execa} from 'execa';
import lockfile from 'proper-lockfile';
import {partialDownloadPath} from '../../src/boxes/download.js';
import {trimPartialDownloads} from '../../src/boxes/download-cache.js';
import {silentUi} from '../../src/core/ui.js';
import {addBox} from '../../src/boxes/add.js';
import {boxJson} from '../helpers/cli.js';
import {useTempBoxHome} from '../helpers/box-home.js';
import {goodBox, noise, startServer, type TestServer} from '../fixtures/boxes/make-box.js';

// The partial downloads an interrupted http add keeps for resuming: bounded by age and total
// size at every http add, and removed (and reported) by `box box prune`.
const work = useTempBoxHome('box-dlcache-');
let server: TestServer;
const home = work.home;
const DAY = 24 * 3600_000;

before(async () => {
  server = await startServer();
});

after(async () => {
  await server.close();
});

beforeEach(async () => {
  await rm(home(), {recursive: true, force: true});
});

/** A partial download as an interrupted add leaves it: the bytes and the record of the URL. */
async function partial(url: string, bytes: number, ageMs: number): Promise<string> {
  const file = partialDownloadPath(url);
  await mkdir(path.dirname(file), {recursive: true});
  await writeFile(file, noise(bytes, url));
  await writeFile(`${file}.json`, JSON.stringify({url}));
  const when = new Date(Date.now() - ageMs);
  await utimes(file, when, when);
  return file;
}

async function cacheFiles(): Promise<string[]> {
  return (await readdir(path.join(home(), 'cache', 'downloads')).catch(() => [] as string[])).sort();
}

describe('the partial download cache is bounded', () => {
  test('an http add drops partials untouched for more than 7 days, keeping recent ones', async () => {
    const old = await partial('http://gone.example/old.box', 4096, 8 * DAY);
    const recent = await partial('http://gone.example/recent.box', 4096, 1 * DAY);
    server.files.set('/b.box', {body: await goodBox()});
    await addBox({source: `${server.url}/b.box`, name: 'b', ui: silentUi(), signal: new AbortController().signal});
    assert.equal(existsSync(old), false, 'the old partial is gone');
    assert.equal(existsSync(`${old}.json`), false, 'with its record');
    assert.deepEqual(await cacheFiles(), [path.basename(recent), `${path.basename(recent)}.json`].sort());
  });

  test('past the total size cap the oldest partials go first; the one being resumed and those in use stay', async () => {
    const a = await partial('http://x.example/a.box', 64 * 1024, 3 * DAY);
    const b = await partial('http://x.example/b.box', 64 * 1024, 2 * DAY);
    const busy = await partial('http://x.example/busy.box', 64 * 1024, 4 * DAY);
    const resumed = await partial('http://x.example/resumed.box', 64 * 1024, 5 * DAY);
    const release = await lockfile.lock(busy, {realpath: false});
    try {
      const removed = await trimPartialDownloads({keep: resumed, maxTotalBytes: 200 * 1024});
      assert.deepEqual(removed.map((r) => r.url), ['http://x.example/a.box'], 'only the oldest free one, until under the cap');
      assert.equal(existsSync(a), false);
      assert.ok(existsSync(b) && existsSync(busy) && existsSync(resumed));
    } finally {
      await release();
    }
  });
});

describe('box box prune removes partial downloads', () => {
  test('--dry-run lists them, prune removes them and reports them with --json, a partial in use stays', async () => {
    const one = await partial('http://user:secret@boxes.example/one.box', 8192, 1 * DAY);
    const busy = await partial('http://boxes.example/busy.box', 8192, 1 * DAY);
    const release = await lockfile.lock(busy, {realpath: false});
    try {
      const dry = await boxJson(['box', 'prune', '--dry-run'], {boxHome: home()});
      assert.equal(dry.result.exitCode, 0, String(dry.result.stderr));
      assert.deepEqual(dry.json.partialDownloads.map((p: {url: string}) => p.url), ['http://***:***@boxes.example/one.box'], 'passwords hidden');
      assert.ok(existsSync(one), 'a dry run removes nothing');
      const {result, json} = await boxJson(['box', 'prune'], {boxHome: home()});
      assert.equal(result.exitCode, 0, String(result.stderr));
      assert.equal(json.partialDownloads.length, 1);
      assert.equal(json.partialDownloads[0].file, one);
      assert.ok(json.partialDownloads[0].size >= 8192);
      assert.equal(json.freed, json.partialDownloads[0].size);
      assert.equal(existsSync(one), false);
      assert.ok(existsSync(busy), 'the partial of an add running now stays');
    } finally {
      await release();
    }
  });

  test('the partial of an add killed with -9 (its lock left, its holder dead) is removed at once', async () => {
    const killed = await partial('http://boxes.example/killed.box', 8192, 1 * DAY);
    // What a killed add leaves: a fresh lock folder whose owner no longer runs.
    const gone = execa('true');
    await gone;
    await mkdir(`${killed}.lock`);
    await writeFile(path.join(`${killed}.lock`, 'owner.json'), JSON.stringify({pid: gone.pid, host: os.hostname()}));
    const {result, json} = await boxJson(['box', 'prune'], {boxHome: home()});
    assert.equal(result.exitCode, 0, String(result.stderr));
    assert.deepEqual(json.partialDownloads.map((p: {url: string}) => p.url), ['http://boxes.example/killed.box']);
    assert.equal(existsSync(killed), false);
  });
});
