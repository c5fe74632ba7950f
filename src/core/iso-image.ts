import {mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {BoxError} from './errors.js';
import {run} from './exec.js';

/**
 * Writes `files` (name → content; names may hold folders) into an ISO9660 image with Joliet and
 * Rock Ridge names and the volume id `label`, made with xorriso: the builder's answer-file CD and
 * the qemu target's cloud-init seed (label `cidata`).
 */
export async function makeIsoImage(files: ReadonlyArray<{name: string; content: string | Uint8Array}>, out: string, label: string, errorCode: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'box-iso-'));
  try {
    for (const f of files) {
      await mkdir(path.dirname(path.join(dir, f.name)), {recursive: true});
      await writeFile(path.join(dir, f.name), f.content);
    }
    const xorriso = (): Promise<string> => run('xorriso', ['-as', 'mkisofs', '-quiet', '-V', label, '-J', '-r', '-o', out, dir], {errorCode, hint: 'Install xorriso (apt-get install xorriso).'});
    try {
      await xorriso();
    } catch (error) {
      // Debian 12's xorriso (1.5.4) once crashed (its "UNIX-SIGNAL: SIGSEGV" report, exit 1) on
      // an image the same command then wrote: a crash is tried once more, any other failure not.
      if (!(error instanceof BoxError && /UNIX-SIGNAL:/.test(error.message))) throw error;
      await xorriso();
    }
    return out;
  } finally {
    await rm(dir, {recursive: true, force: true});
  }
}
