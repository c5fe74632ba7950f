import {mkdir, readdir, rm} from 'node:fs/promises';
import path from 'node:path';
import {readJson, writeJsonAtomic} from './fs-json.js';
import {boxHome} from './paths.js';
import {pidAlive} from './processes.js';

/**
 * JSON records of box operations in progress, `$BOX_HOME/<folder>/<id>.json`, each with the pid
 * of the process doing it: written before the operation creates anything outside, removed when
 * it is done. `box sweep` tells a live operation's resources from a crashed one's by the pid.
 */
export function pidRecords<R extends {pid: number}>(...folder: string[]) {
  const dir = () => path.join(boxHome(), ...folder);
  return {
    async write(id: string, record: R): Promise<void> {
      await mkdir(dir(), {recursive: true});
      await writeJsonAtomic(path.join(dir(), `${id}.json`), record);
    },
    async remove(id: string): Promise<void> {
      await rm(path.join(dir(), `${id}.json`), {force: true});
    },
    /** Every readable record, with whether its process still runs. */
    async list(): Promise<Array<{record: R; alive: boolean}>> {
      const out: Array<{record: R; alive: boolean}> = [];
      for (const file of await readdir(dir()).catch(() => [] as string[])) {
        const record = await readJson<R | undefined>(path.join(dir(), file), undefined).catch(() => undefined);
        if (record) out.push({record, alive: pidAlive(record.pid)});
      }
      return out;
    },
  };
}
