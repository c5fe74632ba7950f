import {mkdir} from 'node:fs/promises';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import {setTimeout as sleep} from 'node:timers/promises';
import {BoxError, throwIfAborted} from './errors.js';

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

/**
 * Runs `fn` while holding an exclusive lock on `target` (a directory or file path; the lock is
 * `<target>.lock`). Stale locks of crashed processes are taken over after 10 s without updates.
 */
export async function withLock<T>(target: string, options: LockOptions, fn: () => Promise<T>): Promise<T> {
  await mkdir(path.dirname(target), {recursive: true});
  const deadline = Date.now() + (options.waitMs ?? 0);
  let release: () => Promise<void>;
  let told = false;
  for (;;) {
    try {
      release = await lockfile.lock(target, {realpath: false, stale: 10_000, update: 2_000, retries: 0});
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ELOCKED') throw error;
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
