import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {execa} from 'execa';
import {takeE2eSlot} from '../test/helpers/e2e-slot.js';
import {addTestBox, ensureTestBox} from '../test/helpers/test-box.js';

const bin = path.join(path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..'), 'bin', 'run.js');

export const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

export interface GuestProject {
  /** The project folder (holding the Boxfile) and its BOX_HOME. */
  project: string;
  home: string;
  /** Runs the built box CLI in the project; resolves with its stdout (fails on a non-zero exit). */
  box(args: string[]): Promise<string>;
  writeBoxfile(text: string): void;
}

/**
 * For benchmarks that boot real guests: takes the machine-wide e2e slot, makes a temp project
 * with `boxfile` and a BOX_HOME holding the cached test box, runs `body`, and then destroys
 * whatever the project made and removes the folders, whatever happened.
 */
export async function withGuestProject<T>(prefix: string, boxfile: string, body: (guest: GuestProject) => Promise<T>): Promise<T> {
  const release = await takeE2eSlot();
  const work = mkdtempSync(path.join(os.tmpdir(), prefix));
  const home = path.join(work, 'home');
  const project = path.join(work, 'project');
  mkdirSync(project, {recursive: true});
  const guest: GuestProject = {
    project, home,
    box: async (args) => String((await execa(process.execPath, [bin, ...args], {cwd: project, env: {BOX_HOME: home, NO_COLOR: '1'}, stdin: 'ignore'})).stdout),
    writeBoxfile: (text) => writeFileSync(path.join(project, 'Boxfile'), text),
  };
  try {
    await ensureTestBox();
    await addTestBox(home);
    guest.writeBoxfile(boxfile);
    return await body(guest);
  } finally {
    await guest.box(['destroy', '--force']).catch(() => undefined);
    rmSync(work, {recursive: true, force: true});
    await release();
  }
}
