import {execa} from 'execa';
import {BoxError, InterruptedError} from '../../../core/errors.js';
import type {Ui} from '../../../core/ui.js';

/**
 * Runs a long tool (debootstrap, chroot scripts) with its output streamed to the Ui as
 * `[prefix] line`. It runs in its own process group so Ctrl-C stops the whole tree
 * (debootstrap's dpkg and wget children too), not just the shell script at its top.
 */
export async function runStreamed(ui: Ui, signal: AbortSignal, prefix: string, file: string, args: string[], env: Record<string, string> = {}, hint?: string): Promise<void> {
  if (signal.aborted) throw new InterruptedError();
  const child = execa(file, args, {env: {LANG: 'C', LC_ALL: 'C', ...env}, detached: true, reject: false, all: true, stdin: 'ignore'});
  const killGroup = (): void => {
    try {
      if (child.pid) process.kill(-child.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  };
  signal.addEventListener('abort', killGroup, {once: true});
  child.all?.on('data', (chunk: Buffer) => ui.output(`[${prefix}]`, chunk.toString()));
  let result;
  try {
    result = await child;
  } finally {
    signal.removeEventListener('abort', killGroup);
  }
  if (signal.aborted) throw new InterruptedError(`Interrupted while running ${file}`);
  if (result.failed) {
    const tail = String(result.all ?? '').trim().split('\n').slice(-15).join('\n');
    const how = result.exitCode === undefined ? `was killed by ${result.signal}` : `exited with code ${result.exitCode}`;
    throw new BoxError('ERR_BUILD_STEP', `${file} ${args.slice(0, 6).join(' ')}${args.length > 6 ? ' ...' : ''} ${how}:\n${tail}`, {hint});
  }
}
