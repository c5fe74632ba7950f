import {readdir, rm, stat} from 'node:fs/promises';
import path from 'node:path';
import {readJson} from '../core/fs-json.js';
import {lockHeld} from '../core/lock.js';
import {userPaths} from '../core/paths.js';
import {redactUrl} from './download.js';

/**
 * The partial downloads kept so an interrupted http `box box add` can resume
 * (`$BOX_HOME/cache/downloads/box-<sha1 of URL>.part` plus its `.json` record). Kept, but
 * bounded: a partial untouched for MAX_AGE_MS is dropped, and when all partials together pass
 * MAX_TOTAL_BYTES the oldest go first. Both happen at the start of every http add; `box box
 * prune` removes them all. A partial being written holds a lock and is never touched.
 */
export const PARTIAL_MAX_AGE_MS = 7 * 24 * 3600_000;
export const PARTIALS_MAX_TOTAL_BYTES = 10 * 1024 ** 3;

export interface PartialDownload {
  /** The URL it came from (passwords hidden), when its record is readable. */
  url?: string;
  file: string;
  /** Bytes on disk. */
  size: number;
  modified: string;
}

async function partials(): Promise<Array<PartialDownload & {mtimeMs: number}>> {
  const dir = userPaths.downloads();
  const names = await readdir(dir).catch(() => [] as string[]);
  const found: Array<PartialDownload & {mtimeMs: number}> = [];
  for (const name of names.filter((n) => /^box-[0-9a-f]{40}\.part$/.test(n))) {
    const file = path.join(dir, name);
    const s = await stat(file).catch(() => undefined);
    if (!s?.isFile()) continue;
    const info = await readJson<{url?: unknown} | undefined>(`${file}.json`, undefined).catch(() => undefined);
    found.push({
      ...(typeof info?.url === 'string' ? {url: redactUrl(info.url)} : {}),
      file, size: s.blocks * 512, modified: s.mtime.toISOString(), mtimeMs: s.mtimeMs,
    });
  }
  return found.sort((a, b) => a.mtimeMs - b.mtimeMs);
}

async function remove(file: string): Promise<void> {
  await rm(file, {force: true});
  await rm(`${file}.json`, {force: true});
}

function publicView({mtimeMs: _mtime, ...rest}: PartialDownload & {mtimeMs: number}): PartialDownload {
  return rest;
}

/**
 * Drops partials older than `maxAgeMs`, then the oldest while all of them take more than
 * `maxTotalBytes` (defaults above). `keep` (the partial about to be resumed) and partials in
 * use are left alone. Returns what was removed.
 */
export async function trimPartialDownloads(options: {keep?: string; maxAgeMs?: number; maxTotalBytes?: number} = {}): Promise<PartialDownload[]> {
  const now = Date.now();
  const maxAge = options.maxAgeMs ?? PARTIAL_MAX_AGE_MS;
  const maxTotal = options.maxTotalBytes ?? PARTIALS_MAX_TOTAL_BYTES;
  const all = await partials();
  const removed: PartialDownload[] = [];
  let total = all.reduce((sum, p) => sum + p.size, 0);
  for (const p of all) {
    if (p.file === options.keep || await lockHeld(p.file)) continue;
    if (now - p.mtimeMs > maxAge || total > maxTotal) {
      await remove(p.file);
      removed.push(publicView(p));
      total -= p.size;
    }
  }
  return removed;
}

/** `box box prune`: every partial download not in use (only listed with dryRun). */
export async function prunePartialDownloads(options: {dryRun?: boolean} = {}): Promise<PartialDownload[]> {
  const removed: PartialDownload[] = [];
  for (const p of await partials()) {
    if (await lockHeld(p.file)) continue;
    if (!options.dryRun) await remove(p.file);
    removed.push(publicView(p));
  }
  return removed;
}
