import {mkdir, readdir, rm} from 'node:fs/promises';
import path from 'node:path';
import {readJson, writeJsonAtomic} from '../core/fs-json.js';
import {boxHome} from '../core/paths.js';

/**
 * A running `box build --target aws` writes `$BOX_HOME/bakes/aws/<token>.json` (with its pid)
 * before it creates anything, and removes it at the end, so `box sweep` leaves the temporary
 * instance, key and group of a bake in progress alone and removes those of a crashed one.
 */
export interface BakeRecord {
  token: string;
  pid: number;
  template: string;
  region: string;
  startedAt: string;
}

function bakesDir(): string {
  return path.join(boxHome(), 'bakes', 'aws');
}

export async function writeBakeRecord(record: BakeRecord): Promise<void> {
  await mkdir(bakesDir(), {recursive: true});
  await writeJsonAtomic(path.join(bakesDir(), `${record.token}.json`), record);
}

export async function removeBakeRecord(token: string): Promise<void> {
  await rm(path.join(bakesDir(), `${token}.json`), {force: true});
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Tokens of bakes whose process still runs. */
export async function liveBakeTokens(): Promise<Set<string>> {
  const tokens = new Set<string>();
  for (const file of await readdir(bakesDir()).catch(() => [] as string[])) {
    const record = await readJson<BakeRecord | undefined>(path.join(bakesDir(), file), undefined).catch(() => undefined);
    if (record && processAlive(record.pid)) tokens.add(record.token);
  }
  return tokens;
}
