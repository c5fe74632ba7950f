import {readFile} from 'node:fs/promises';

/** The last `lines` lines of a log file (serial console), for error messages. */
export async function tailFile(file: string, lines = 20): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  // Strip terminal escapes from the guest console so the message stays readable.
  return text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '').trimEnd().split('\n').slice(-lines).join('\n');
}
