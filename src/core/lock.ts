import {randomUUID} from 'node:crypto';
import {mkdir, readFile, rename, rm, stat, utimes, writeFile} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import {setTimeout as sleep} from 'node:timers/promises';
import {BoxError, throwIfAborted} from './errors.js';
import {pidAlive} from './processes.js';

export interface LockOptions {
  /** How long to wait for another box process to release the lock; 0 fails at once. */
  waitMs?: number;
  /** What the lock protects, for the error message ("machine web"). */
  what: string;
  /** Stops the wait (Ctrl-C) with InterruptedError. */
  signal?: AbortSignal;
  /** Called once when the lock is busy and the wait begins (to tell the user why nothing moves). */
  onWait?: () => void;
}

/** Inside the lock folder: who holds it, so a waiter can tell a dead holder at once. */
const OWNER_FILE = 'owner.json';

interface LockOwner {
  pid: number;
  host: string;
}

async function readOwner(lockDir: string): Promise<LockOwner | undefined> {
  try {
    const owner = JSON.parse(await readFile(path.join(lockDir, OWNER_FILE), 'utf8')) as LockOwner;
    return Number.isInteger(owner?.pid) && typeof owner.host === 'string' ? owner : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Frees a lock whose holder was a process of this host that no longer runs (killed with -9,
 * crashed), so the next command goes on at once instead of waiting out the 10 s staleness.
 * The folder is renamed aside before it is removed: of two waiters that saw the same dead
 * holder only one can move it, and one that moved a fresh lock taken meanwhile puts it back.
 */
async function freeDeadLock(lockDir: string): Promise<boolean> {
  const owner = await readOwner(lockDir);
  if (!owner || owner.host !== os.hostname() || pidAlive(owner.pid)) return false;
  const aside = `${lockDir}.dead-${randomUUID()}`;
  try {
    await rename(lockDir, aside);
  } catch {
    return false;
  }
  const moved = await readOwner(aside);
  if (moved?.pid !== owner.pid) {
    await rename(aside, lockDir).catch(() => rm(aside, {recursive: true, force: true}));
    return false;
  }
  await rm(aside, {recursive: true, force: true});
  return true;
}

/**
 * Does a live process hold the lock on `target`? A fresh lock whose holder died on this host
 * (kill -9) is not held: the next command would take it over at once.
 */
export async function lockHeld(target: string): Promise<boolean> {
  if (!await lockfile.check(target, {realpath: false, stale: STALE_MS}).catch(() => false)) return false;
  const owner = await readOwner(`${target}.lock`);
  return !(owner && owner.host === os.hostname() && !pidAlive(owner.pid));
}

/** A lock nobody refreshed for this long is stale; its holder refreshes it this often. */
const STALE_MS = 10_000;
const REFRESH_MS = STALE_MS / 2;

/** Is the lock folder's owner record this process's? */
async function ownedHere(lockDir: string): Promise<boolean> {
  const owner = await readOwner(lockDir);
  return owner?.pid === process.pid && owner.host === os.hostname();
}

async function acquire(target: string): Promise<() => Promise<void>> {
  const lockDir = `${target}.lock`;
  let release: () => Promise<void>;
  let keepFresh: NodeJS.Timeout | undefined;
  const options = {
    realpath: false, stale: STALE_MS, update: REFRESH_MS, retries: 0,
    // proper-lockfile gives the lock up when the folder's mtime changed between two of its
    // refreshes, and by default throws from a timer, killing box mid-operation. Under heavy load
    // that change can be box's own (its owner record going in or out, below). While the record
    // is still this process's, box keeps the lock fresh itself; otherwise it was taken over.
    onCompromised: () => {
      keepFresh = setInterval(() => {
        void ownedHere(lockDir).then((ours) => {
          if (ours) return utimes(lockDir, new Date(), new Date());
          clearInterval(keepFresh);
          process.stderr.write(`box: warning: another process took over the lock ${lockDir} (this one stalled for more than ${STALE_MS / 1000} s)\n`);
        }).catch(() => undefined);
      }, REFRESH_MS);
      keepFresh.unref();
    },
  };
  try {
    release = await lockfile.lock(target, options);
  } catch (error) {
    // A stale lock of a holder on another host (or one whose pid was reused) still holds its
    // owner file: proper-lockfile's own rmdir of it fails. It is stale: remove it and retry.
    if ((error as NodeJS.ErrnoException).code !== 'ENOTEMPTY') throw error;
    await rm(lockDir, {recursive: true, force: true});
    release = await lockfile.lock(target, options);
  }
  const ownerFile = path.join(lockDir, OWNER_FILE);
  // proper-lockfile takes a changed mtime of its folder for another process's takeover (and then
  // throws ECOMPROMISED): put the mtime back after adding the owner file.
  const before = await stat(lockDir);
  await writeFile(ownerFile, JSON.stringify({pid: process.pid, host: os.hostname()} satisfies LockOwner)).catch(() => undefined);
  await utimes(lockDir, before.atime, before.mtime).catch(() => undefined);
  return async () => {
    if (keepFresh !== undefined) {
      // Given up by proper-lockfile (see onCompromised): box removes its own folder.
      clearInterval(keepFresh);
      if (await ownedHere(lockDir)) await rm(lockDir, {recursive: true, force: true});
      return;
    }
    // proper-lockfile removes the folder with rmdir: it must be empty again.
    await rm(ownerFile, {force: true});
    try {
      await release();
    } catch (error) {
      // Given up between the two lines above: the folder, empty now, is still this process's.
      if (keepFresh === undefined) throw error;
      clearInterval(keepFresh);
      if (await readOwner(lockDir) === undefined) await rm(lockDir, {recursive: true, force: true});
    }
  };
}

/**
 * Runs `fn` while holding an exclusive lock on `target` (a directory or file path; the lock is
 * `<target>.lock`). The lock of a holder that died on this host is taken over at once; other
 * stale locks (no update for 10 s: another host, a frozen process) after those 10 s.
 */
export async function withLock<T>(target: string, options: LockOptions, fn: () => Promise<T>): Promise<T> {
  await mkdir(path.dirname(target), {recursive: true});
  const deadline = Date.now() + (options.waitMs ?? 0);
  let release: () => Promise<void>;
  let told = false;
  for (;;) {
    try {
      release = await acquire(target);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ELOCKED') throw error;
      if (await freeDeadLock(`${target}.lock`)) continue;
      if (Date.now() >= deadline) {
        throw new BoxError('ERR_LOCKED', `Another box process is working on ${options.what}.`, {
          hint: 'Wait for it to finish, or check `box status`. A crashed process releases the lock within 10 seconds.',
        });
      }
      if (!told) options.onWait?.();
      told = true;
      throwIfAborted(options.signal);
      await sleep(500, undefined, options.signal ? {signal: options.signal} : undefined).catch(() => throwIfAborted(options.signal));
    }
  }
  try {
    return await fn();
  } finally {
    await release().catch(() => undefined);
  }
}
