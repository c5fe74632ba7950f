import {rm} from 'node:fs/promises';
import {removeRootfs} from '../builder/methods/debootstrap/mounts.js';
import {errorMessage} from '../core/errors.js';
import {processesIn, waitForExit} from '../core/processes.js';
import type {Ui} from '../core/ui.js';
import {pidRecords} from '../core/pid-records.js';

/**
 * A running `box build` writes `$BOX_HOME/builds/<id>.json` (with its pid and work folder)
 * before it creates the work folder, and removes it after its cleanups. A build killed with -9
 * runs no cleanup: its work folder (disk images, a debootstrap target with /proc mounted), its
 * build VM and its partial box stay. The next build removes them for every record whose
 * process is gone.
 */
export interface BuildRecord {
  id: string;
  pid: number;
  template: string;
  workDir: string;
  /** The box being written (`<box>.partial` until it is complete). */
  boxPath: string;
  startedAt: string;
}

const builds = pidRecords<BuildRecord>('builds');

export async function writeBuildRecord(record: BuildRecord): Promise<void> {
  await builds.write(record.id, record);
}

export async function removeBuildRecord(id: string): Promise<void> {
  await builds.remove(id);
}

/** Stops and removes what builds that no longer run left behind (see BuildRecord). */
export async function removeDeadBuilds(ui: Ui): Promise<void> {
  for (const {record, alive} of await builds.list()) {
    if (alive) continue;
    try {
      for (const pid of await processesIn(record.workDir)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
        await waitForExit(pid, 5000);
      }
      await removeRootfs(record.workDir);
      await rm(`${record.boxPath}.partial`, {force: true});
      await builds.remove(record.id);
      ui.info(`removed what an interrupted build of ${record.template} (pid ${record.pid}) left in ${record.workDir}`);
    } catch (error) {
      ui.warn(`could not remove what an interrupted build left in ${record.workDir}: ${errorMessage(error)}`);
    }
  }
}
