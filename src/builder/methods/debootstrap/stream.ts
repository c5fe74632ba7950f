import {readFileSync, readdirSync} from 'node:fs';
import {BoxError, InterruptedError} from '../../../core/errors.js';
import {spawnInOwnGroup} from '../../../core/exec.js';
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
 * just the shell script at its top. The tool runs in its own process group (see
 * spawnInOwnGroup): box alone gets the terminal's Ctrl-C and stops the tree itself, so the
 * build reports "Interrupted", never the tool's own death by SIGINT; if box exits at once (a
 * second Ctrl-C) the group gets SIGTERM.
 */
export async function runStreamed(ui: Ui, signal: AbortSignal, prefix: string, file: string, args: string[], env: Record<string, string> = {}, hint?: string): Promise<void> {
  if (signal.aborted) throw new InterruptedError();
  const {child} = await spawnInOwnGroup(file, args, {env: {LANG: 'C', LC_ALL: 'C', ...env}, reject: false, all: true, stdin: 'ignore'});
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
  if (signal.aborted) killGroup(); // a Ctrl-C while execa was still loading
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
