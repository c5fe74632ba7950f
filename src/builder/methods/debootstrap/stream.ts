import {readFileSync, readdirSync} from 'node:fs';
import {execa} from 'execa';
import {BoxError, InterruptedError} from '../../../core/errors.js';
import type {Ui} from '../../../core/ui.js';

/** Every descendant of `pid` (children first found breadth-first), from /proc. */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // /proc/PID/stat: "pid (comm) state ppid ..."; comm may contain spaces and parentheses.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // exited while we looked
    }
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const child of children.get(queue.shift()!) ?? []) {
      out.push(child);
      queue.push(child);
    }
  }
  return out;
}

/**
 * Runs a long tool (debootstrap, chroot scripts) with its output streamed to the Ui as
 * `[prefix] line`. Ctrl-C stops the whole tree (debootstrap's dpkg and wget children too), not
 * just the shell script at its top. The tool stays in box's process group, so a Ctrl-C in the
 * terminal reaches it directly as well.
 */
export async function runStreamed(ui: Ui, signal: AbortSignal, prefix: string, file: string, args: string[], env: Record<string, string> = {}, hint?: string): Promise<void> {
  if (signal.aborted) throw new InterruptedError();
  const child = execa(file, args, {env: {LANG: 'C', LC_ALL: 'C', ...env}, reject: false, all: true, stdin: 'ignore'});
  const killGroup = (): void => {
    if (!child.pid) return;
    for (const pid of [child.pid, ...descendants(child.pid)]) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
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
