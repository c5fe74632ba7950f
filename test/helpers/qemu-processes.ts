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
