import {existsSync, statSync} from 'node:fs';
import path from 'node:path';
import {UsageError} from '../core/errors.js';

export const BOXFILE_NAME = 'Boxfile';

/** Finds `Boxfile` in `cwd` or the nearest parent folder (as Vagrant finds its Vagrantfile). */
export function findBoxfile(cwd: string): string | undefined {
  let dir = path.resolve(cwd);
  for (;;) {
    const candidate = path.join(dir, BOXFILE_NAME);
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

/** The Boxfile to use: the explicit one (which must exist) or the one found upwards from cwd. */
export function locateBoxfile(cwd: string, explicit?: string): string {
  if (explicit) {
    const file = path.resolve(cwd, explicit);
    if (!existsSync(file)) throw new UsageError('ERR_BOXFILE_NOT_FOUND', `Boxfile ${JSON.stringify(explicit)} does not exist.`, {hint: 'Check the --boxfile path (or BOX_BOXFILE), or create one with `box init`.'});
    if (!statSync(file).isFile()) throw new UsageError('ERR_BOXFILE_NOT_FOUND', `Boxfile ${JSON.stringify(explicit)} is not a file.`, {hint: 'Point --boxfile at the Boxfile itself, not its folder.'});
    return file;
  }
  const found = findBoxfile(cwd);
  if (!found) throw new UsageError('ERR_BOXFILE_NOT_FOUND', `No Boxfile in ${cwd} or any parent folder.`, {hint: 'Create one with `box init`, or pass --boxfile PATH.'});
  return found;
}
