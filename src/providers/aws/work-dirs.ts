import {existsSync} from 'node:fs';
import {mkdir, rm} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {deadBakes} from './bake-records.js';
import {deadTransfers} from './transfer-records.js';

/**
 * Work folders in the system temp dir that hold secrets or big files: a bake's private key
 * (`box-bake-*`), a push's or pull's disk image (`box-push-*`, `box-pull-*`). Each is recorded
 * (its pid record: bake or transfer) BEFORE it is created, so a process killed with -9 leaves a
 * trail, and the next run of the same kind, `box destroy` and `box sweep` remove the folders of
 * records whose process is gone.
 */
export type WorkKind = 'bake' | 'push' | 'pull';

/** The folder's path for a record id; not created. Random ids: nobody can guess it beforehand. */
export function workDirFor(kind: WorkKind, id: string): string {
  return path.join(os.tmpdir(), `box-${kind}-${id.replace(/[^A-Za-z0-9-]/g, '').slice(-36)}`);
}

/**
 * Creates the recorded folder, private to this user. Not recursive: a folder of that name made by
 * someone else in a shared temp dir makes this fail instead of being used.
 */
export async function createWorkDir(dir: string): Promise<void> {
  await mkdir(dir, {mode: 0o700});
}

/** Only existing folders box names in the temp dir: a damaged record never points rm anywhere else. */
function isWorkDir(dir: string | undefined): dir is string {
  return dir !== undefined && path.dirname(dir) === os.tmpdir() && /^box-(bake|push|pull)-[A-Za-z0-9-]+$/.test(path.basename(dir)) && existsSync(dir);
}

/** A work folder whose process is gone, and the record it belongs to. */
export interface DeadWorkDir {
  dir: string;
  kind: WorkKind;
  pid: number;
  /** The bake's token or the transfer's id. */
  owner: string;
  region: string;
  kept: boolean;
}

/** The work folders of records whose process is gone (folders of other names never). */
export async function deadWorkDirs(kinds: WorkKind[]): Promise<DeadWorkDir[]> {
  const out: DeadWorkDir[] = [];
  if (kinds.includes('bake')) {
    for (const b of await deadBakes()) if (isWorkDir(b.workDir)) out.push({dir: b.workDir, kind: 'bake', pid: b.pid, owner: b.token, region: b.region, kept: b.kept === true});
  }
  for (const t of await deadTransfers()) {
    if (kinds.includes(t.kind) && isWorkDir(t.workDir)) out.push({dir: t.workDir, kind: t.kind, pid: t.pid, owner: t.id, region: t.region, kept: false});
  }
  return out;
}

/**
 * Removes the work folders of dead bakes and/or transfers (the next run of the same kind, and
 * `box destroy`). A bake kept with `--on-error abort` keeps its folder: its key reaches the kept
 * instance, and `box sweep` removes both. Returns the folders removed.
 */
export async function removeDeadWorkDirs(kinds: WorkKind[]): Promise<string[]> {
  const removed: string[] = [];
  for (const w of (await deadWorkDirs(kinds)).filter((x) => !x.kept)) {
    await rm(w.dir, {recursive: true, force: true});
    removed.push(w.dir);
  }
  return removed;
}
