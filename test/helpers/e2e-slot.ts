import lockfile from 'proper-lockfile';
import {mkdirSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * Test files run two at a time, but guests under software emulation need both cores: e2e
 * files that boot guests take this machine-wide slot so only one boots at a time.
 * Use: `before(async () => { release = await takeE2eSlot(); })`, `after(() => release())`.
 */
export async function takeE2eSlot(): Promise<() => Promise<void>> {
  const dir = path.join(os.tmpdir(), 'box-e2e');
  mkdirSync(dir, {recursive: true});
  return lockfile.lock(dir, {realpath: false, stale: 60_000, update: 10_000, retries: {retries: 2000, minTimeout: 1000, maxTimeout: 1000, factor: 1}});
}
