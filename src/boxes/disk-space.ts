import {statfs} from 'node:fs/promises';
import path from 'node:path';
import {BoxError} from '../core/errors.js';
import {boxHome} from '../core/paths.js';
import {formatBytes} from '../core/ui.js';

/**
 * Free space where boxes go. A full disk during `box box add` is the user's to fix (free space
 * or move BOX_HOME), so it gets its own error saying which file system, how much the box needs
 * and how much is free, instead of looking like a damaged archive.
 */

/** Bytes an unprivileged process may still write on the file system holding `dir` (or its nearest existing parent). */
export async function freeBytes(dir: string): Promise<number | undefined> {
  let current = path.resolve(dir);
  for (;;) {
    try {
      const s = await statfs(current);
      return s.bavail * s.bsize;
    } catch {
      const parent = path.dirname(current);
      if (parent === current) return undefined;
      current = parent;
    }
  }
}

export function isNoSpaceError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/**
 * ERR_NO_SPACE for `dir`: `needed` is what the box needs when known ("at least" when it is only
 * a lower bound, e.g. the compressed size), `written` what was written before the disk filled.
 */
export async function noSpaceError(dir: string, needed: {bytes?: number; atLeast?: boolean; written?: number}, cause?: unknown): Promise<BoxError> {
  const free = await freeBytes(dir);
  const home = boxHome();
  const need = needed.bytes !== undefined
    ? `${needed.atLeast ? 'at least ' : ''}${formatBytes(needed.bytes)}`
    : needed.written !== undefined ? `more than the ${formatBytes(needed.written)} written before the disk filled` : 'more space';
  return new BoxError('ERR_NO_SPACE', `The file system of BOX_HOME (${home}) has no room for this box: it needs ${need}, and ${free === undefined ? 'the free space is unknown' : `${formatBytes(free)} is free`}.`, {
    hint: 'Free space there (`box box prune` removes old box versions and partial downloads), or set BOX_HOME to a folder on a larger disk. Nothing of this box was kept.',
    details: {boxHome: home, neededBytes: needed.bytes, atLeast: Boolean(needed.atLeast), writtenBytes: needed.written, freeBytes: free},
    cause,
  });
}
