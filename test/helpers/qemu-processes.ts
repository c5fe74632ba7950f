import {readdirSync, readFileSync} from 'node:fs';

/** pids of the qemu-system processes whose command line mentions `needle` (a project or work folder). */
export function qemuProcesses(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (/(^|\/)qemu-system/.test(cmdline.split('\0')[0] ?? '') && cmdline.includes(needle)) pids.push(Number(entry));
  }
  return pids;
}
