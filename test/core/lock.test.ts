import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {execa} from 'execa';
import {readdirSync} from 'node:fs';
import {stat, utimes} from 'node:fs/promises';
import path from 'node:path';
import {pathToFileURL} from 'node:url';
import {BoxError} from '../../src/core/errors.js';
import {lockHeld, withLock} from '../../src/core/lock.js';
import {tempDir} from '../helpers/cli.js';

/** What was thrown uncaught (from a timer: proper-lockfile's default) while `fn` ran. */
async function crashesDuring(fn: () => Promise<unknown>): Promise<unknown[]> {
  const crashes: unknown[] = [];
  const onCrash = (error: unknown) => crashes.push(error);
  process.on('uncaughtException', onCrash);
  try {
    await fn();
  } finally {
    process.off('uncaughtException', onCrash);
  }
  return crashes;
}

/** Another process that takes the lock on `target` and keeps it until killed. */
async function holdForever(target: string) {
  const lockModule = pathToFileURL(path.resolve('src/core/lock.ts')).href;
  const holder = execa(process.execPath, ['--import', 'tsx', '--input-type=module', '-e',
    `const {withLock} = await import(${JSON.stringify(lockModule)}); await withLock(${JSON.stringify(target)}, {what: 'x'}, async () => { console.log('locked'); await new Promise(() => setInterval(() => {}, 1000)); });`,
  ], {reject: false});
  await new Promise<void>((resolve) => holder.stdout!.on('data', (d: Buffer) => String(d).includes('locked') && resolve()));
  // Wrapped: the subprocess is itself a promise, which an async function's return would await.
  return {holder};
}

describe('withLock', () => {
  test('a second holder waits (telling onWait once) and runs after the first releases', async () => {
    const tmp = await tempDir('box-lock-');
    try {
      const target = path.join(tmp.dir, 'cache');
      const order: string[] = [];
      let waits = 0;
      let releaseFirst!: () => void;
      const first = withLock(target, {what: 'the cache'}, async () => {
        order.push('first');
        await new Promise<void>((r) => { releaseFirst = r; });
        order.push('first done');
      });
      await new Promise((r) => setTimeout(r, 50));
      const second = withLock(target, {what: 'the cache', waitMs: 10_000, onWait: () => waits++}, async () => { order.push('second'); });
      await new Promise((r) => setTimeout(r, 700));
      releaseFirst();
      await Promise.all([first, second]);
      assert.deepEqual(order, ['first', 'first done', 'second']);
      assert.equal(waits, 1);
    } finally {
      await tmp.cleanup();
    }
  });

  test('a busy lock fails with ERR_LOCKED after waitMs, and an aborted wait with ERR_INTERRUPTED', async () => {
    const tmp = await tempDir('box-lock-');
    try {
      const target = path.join(tmp.dir, 'machine');
      let release!: () => void;
      const holder = withLock(target, {what: 'machine web'}, () => new Promise<void>((r) => { release = r; }));
      await new Promise((r) => setTimeout(r, 50));
      const t0 = Date.now();
      await assert.rejects(withLock(target, {what: 'machine web', waitMs: 600}, async () => undefined), (e: BoxError) => e.code === 'ERR_LOCKED' && /machine web/.test(e.message));
      assert.ok(Date.now() - t0 >= 500, 'it waited');
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 300);
      await assert.rejects(withLock(target, {what: 'machine web', waitMs: 60_000, signal: controller.signal}, async () => undefined), (e: BoxError) => e.code === 'ERR_INTERRUPTED');
      release();
      await holder;
    } finally {
      await tmp.cleanup();
    }
  });

  test('the lock of a holder killed with -9 is taken over at once, not after the 10 s staleness', async () => {
    const tmp = await tempDir('box-lock-');
    try {
      const target = path.join(tmp.dir, 'machine');
      const {holder} = await holdForever(target);
      holder.kill('SIGKILL');
      await holder;
      const t0 = Date.now();
      await withLock(target, {what: 'machine x', waitMs: 0}, async () => undefined);
      assert.ok(Date.now() - t0 < 2000, `took ${Date.now() - t0} ms`);
      assert.deepEqual(readdirSync(tmp.dir), [], 'the dead lock and its owner record are gone');
    } finally {
      await tmp.cleanup();
    }
  });

  test('lockHeld: a lock is held while its holder lives, and not once the holder was killed with -9', async () => {
    const tmp = await tempDir('box-lock-');
    try {
      const target = path.join(tmp.dir, 'machine');
      const {holder} = await holdForever(target);
      assert.equal(await lockHeld(target), true, 'held by a live process');
      holder.kill('SIGKILL');
      await holder;
      assert.equal(await lockHeld(target), false, 'its holder is dead (the lock folder is still fresh)');
    } finally {
      await tmp.cleanup();
    }
  });

  test('a lock held longer than its refresh interval stays ours (the owner record does not look like a takeover)', async () => {
    const tmp = await tempDir('box-lock-');
    try {
      const target = path.join(tmp.dir, 'machine');
      // proper-lockfile refreshes every 5 s and gives the lock up (ECOMPROMISED) if the folder's mtime is not the one it set.
      assert.deepEqual(await crashesDuring(() => withLock(target, {what: 'machine x'}, () => new Promise((r) => setTimeout(r, 6500)))), []);
    } finally {
      await tmp.cleanup();
    }
  });

  test('a lock whose folder mtime changed under it (box\'s own owner record, on a loaded host) is kept fresh by box, not crashed on, and removed at release', async () => {
    const tmp = await tempDir('box-lock-');
    try {
      const target = path.join(tmp.dir, 'machine');
      const crashes = await crashesDuring(() => withLock(target, {what: 'machine x'}, async () => {
        // What a slow owner-record write looks like to proper-lockfile's next refresh.
        await utimes(`${target}.lock`, new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));
        await new Promise((r) => setTimeout(r, 11_500));
        const age = Date.now() - (await stat(`${target}.lock`)).mtimeMs;
        assert.ok(age < 6_000, `the lock was refreshed ${Math.round(age)} ms ago`);
        assert.equal(await lockHeld(target), true);
        await assert.rejects(withLock(target, {what: 'machine x'}, async () => undefined), (e: BoxError) => e.code === 'ERR_LOCKED');
      }));
      assert.deepEqual(crashes, []);
      assert.deepEqual(readdirSync(tmp.dir), [], 'the lock folder is gone');
      await withLock(target, {what: 'machine x'}, async () => undefined);
    } finally {
      await tmp.cleanup();
    }
  });
});
