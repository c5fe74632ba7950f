import {mkdir} from 'node:fs/promises';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import {BoxError} from './errors.js';

export interface LockOptions {
  /** How long to wait for another box process to release the lock; 0 fails at once. */
  waitMs?: number;
  /** What the lock protects, for the error message ("machine web"). */
  what: string;
}

/**
 * Runs `fn` while holding an exclusive lock on `target` (a directory or file path; the lock is
 * `<target>.lock`). Stale locks of crashed processes are taken over after 10 s without updates.
 */
export async function withLock<T>(target: string, options: LockOptions, fn: () => Promise<T>): Promise<T> {
  await mkdir(path.dirname(target), {recursive: true});
  const waitMs = options.waitMs ?? 0;
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(target, {
      realpath: false,
      stale: 10_000,
      update: 2_000,
      retries: waitMs > 0 ? {retries: Math.ceil(waitMs / 500), minTimeout: 500, maxTimeout: 500, factor: 1} : 0,
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOCKED') {
      throw new BoxError('ERR_LOCKED', `Another box process is working on ${options.what}.`, {
        hint: 'Wait for it to finish, or check `box status`. A crashed process releases the lock within 10 seconds.',
      });
    }
    throw error;
  }
  try {
    return await fn();
  } finally {
    await release().catch(() => undefined);
  }
}
