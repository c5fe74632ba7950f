import {readFile} from 'node:fs/promises';
import writeFileAtomic from 'write-file-atomic';

/** Reads a JSON file; returns `fallback` when it does not exist. */
export async function readJson<T>(file: string, fallback: T): Promise<T> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return fallback;
    throw error;
  }
}

/** Writes JSON atomically (temp file + fsync + rename) so a crash never leaves half a file. */
export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n', {mode: 0o644});
}
