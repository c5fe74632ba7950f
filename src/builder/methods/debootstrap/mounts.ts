import {readFile} from 'node:fs/promises';
import path from 'node:path';
import {run, tryRun} from '../../../core/exec.js';

/** Mount points at or below `dir` (debootstrap mounts /proc and /sys in the target while it runs). */
export async function mountsUnder(dir: string): Promise<string[]> {
  const root = path.resolve(dir);
  const text = await readFile('/proc/self/mounts', 'utf8').catch(() => '');
  return text.split('\n')
    .map((line) => line.split(' ')[1]?.replace(/\\040/g, ' '))
    .filter((m): m is string => Boolean(m) && (m === root || m.startsWith(root + '/')))
    .sort((a, b) => b.length - a.length);
}

/**
 * Removes a root file system folder safely: first lazily unmounts anything a killed debootstrap
 * left mounted inside it, then deletes without crossing into other file systems, so a stray
 * /proc or bind mount can never take host files with it.
 */
export async function removeRootfs(dir: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    for (const mount of await mountsUnder(dir)) await tryRun('umount', ['-l', mount]);
    try {
      await run('rm', ['-rf', '--one-file-system', dir]);
      return;
    } catch (error) {
      // A just-killed dpkg may still be writing for a moment ("Directory not empty").
      if (attempt >= 3) throw error;
      await new Promise((r) => setTimeout(r, 1000 * attempt));
    }
  }
}
