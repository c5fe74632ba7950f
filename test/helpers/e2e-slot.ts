import lockfile from 'proper-lockfile';
import {mkdirSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * Test files run two at a time, but guests under software emulation need both cores: e2e
 * files that boot guests take this machine-wide slot so only one boots at a time.
 * Use: `before(async () => { release = await takeE2eSlot(); })`, `after(() => release())`.
 *
 * The guest files in turn are CI's critical path, so each says on stderr how long it waited for
 * the slot and how long it held it (`[e2e-slot] <file> waited N s, held M s`): the numbers to
 * look at before making CI faster (the spec reporter's file durations include the wait).
 */
export async function takeE2eSlot(): Promise<() => Promise<void>> {
  const dir = path.join(os.tmpdir(), 'box-e2e');
  mkdirSync(dir, {recursive: true});
  const asked = Date.now();
  const release = await lockfile.lock(dir, {realpath: false, stale: 60_000, update: 10_000, retries: {retries: 2000, minTimeout: 1000, maxTimeout: 1000, factor: 1}});
  const taken = Date.now();
  const file = path.relative(process.cwd(), process.argv[1] ?? '?');
  return async () => {
    await release();
    process.stderr.write(`[e2e-slot] ${file} waited ${Math.round((taken - asked) / 1000)} s, held ${Math.round((Date.now() - taken) / 1000)} s\n`);
  };
}
