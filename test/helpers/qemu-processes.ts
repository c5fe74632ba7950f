import {readdirSync, readFileSync} from 'node:fs';

/** pids of the qemu-system processes whose command line mentions `needle` (a project or work folder). */
export function qemuProcesses(needle: string): number[] {
  return processesOf(/(^|\/)qemu-system/, needle);
}

/** pids of the virtiofsd processes (the host side of virtiofs synced folders) whose command line mentions `needle`. */
export function virtiofsdProcesses(needle: string): number[] {
  return processesOf(/(^|\/)virtiofsd$/, needle);
}

/** pids of the processes whose program matches `program` and whose command line mentions `needle`. */
function processesOf(program: RegExp, needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (program.test(cmdline.split('\0')[0] ?? '') && cmdline.includes(needle)) pids.push(Number(entry));
  }
  return pids;
}

/** `pid <n> <program>: state <S>, <cpu> s of CPU`, from /proc/<pid>/stat (state R vs S tells a spinning process from a waiting one). */
export function describeProcess(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const [state, ...rest] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(rest[10]) + Number(rest[11]); // utime and stime (fields 14 and 15)
    return `pid ${pid} ${stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))}: state ${state}, ${(ticks / 100).toFixed(1)} s of CPU`;
  } catch {
    return `pid ${pid}: gone`;
  }
}
