import {readFile, readdir, readlink} from 'node:fs/promises';

/** Is a process with this pid running (on this host)? EPERM: it runs, as another user. */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Waits until the process is gone or `timeoutMs` passes; true when it is gone. Polled every
 * 25 ms: a poll is a kill(0) and one small /proc read, and a halt ends when QEMU does, so a
 * coarser poll only adds its half-interval to every halt.
 */
export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!pidAlive(pid) || await isZombie(pid)) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return !pidAlive(pid);
}

async function isZombie(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return / Z /.test(stat.slice(stat.lastIndexOf(')')));
}

/**
 * Live processes that work inside `dir`: their command line names a path in it (QEMU's disk,
 * qemu-img's image, debootstrap's target), or their working folder or chroot is in it (dpkg
 * run by debootstrap). What a box process killed with -9 started outlives it; this finds it
 * from the folder it worked in. Linux only (/proc); elsewhere it finds nothing.
 */
export async function processesIn(dir: string): Promise<number[]> {
  const inside = (p: string) => p === dir || p.startsWith(`${dir}/`);
  const out: number[] = [];
  for (const entry of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline === '') continue; // kernel threads, zombies, gone
    const named = cmdline.split('\0').some((arg) => arg.includes(`${dir}/`) || arg === dir);
    const cwd = await readlink(`/proc/${entry}/cwd`).catch(() => '');
    const root = await readlink(`/proc/${entry}/root`).catch(() => '');
    if (named || inside(cwd) || (root !== '/' && inside(root))) out.push(Number(entry));
  }
  return out;
}
