import {readFile} from 'node:fs/promises';

/** Reads a pid file; undefined when missing or not a number. */
export async function readPidFile(file: string): Promise<number | undefined> {
  const text = await readFile(file, 'utf8').catch(() => '');
  const pid = Number.parseInt(text.trim(), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Is `pid` OUR QEMU? Alive, a qemu-system binary, and using this machine's disk: a recycled
 * pid of some other process must never be killed by `halt`/`destroy`.
 */
export async function isOurQemu(pid: number, disk: string): Promise<boolean> {
  if (!pidAlive(pid)) return false;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  if (cmdline === '') return false;
  const args = cmdline.split('\0');
  // A zombie (exited, not yet reaped) has an empty cmdline and is handled above.
  return /qemu-system/.test(args[0] ?? '') && args.some((a) => a.includes(`file=${disk.replaceAll(',', ',,')},`));
}

/** Waits until the process is gone or `timeoutMs` passes; true when it is gone. */
export async function waitForExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!pidAlive(pid) || await isZombie(pid)) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return !pidAlive(pid);
}

async function isZombie(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return / Z /.test(stat.slice(stat.lastIndexOf(')')));
}

/** The last `lines` lines of a log file (serial console), for error messages. */
export async function tailFile(file: string, lines = 20): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  // Strip terminal escapes from the guest console so the message stays readable.
  return text.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '').trimEnd().split('\n').slice(-lines).join('\n');
}
