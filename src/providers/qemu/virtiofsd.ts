import {spawn} from 'node:child_process';
import {constants, existsSync} from 'node:fs';
import {access, open, readFile, rm} from 'node:fs/promises';
import path from 'node:path';
import {BoxError} from '../../core/errors.js';
import {pidAlive, waitForExit} from '../../core/processes.js';
import {machineSocketPath, pidsWhere} from './process.js';

/**
 * virtiofsd, the host half of a `type: virtiofs` synced folder: one process per folder serves
 * it to QEMU over a vhost-user socket in the machine folder. Like QEMU it outlives the box
 * command that starts it; it exits by itself when its QEMU goes away, and box stops it anyway
 * on halt, destroy and a failed boot. Its command line names its socket, which names the
 * machine folder: the record that finds it after a crash.
 */

/** Where distributions install it: Debian 13 / Ubuntu 24.04 / Fedora (the Rust virtiofsd), Debian 12 (QEMU 7.2's own, in qemu-system-common). */
export const VIRTIOFSD_PATHS = ['/usr/libexec/virtiofsd', '/usr/lib/qemu/virtiofsd'];

/** The virtiofsd to run: a known install path, else one on PATH; ERR_VIRTIOFSD_MISSING with an install hint. */
export async function findVirtiofsd(env: NodeJS.ProcessEnv = process.env, known: readonly string[] = VIRTIOFSD_PATHS): Promise<string> {
  const onPath = (env.PATH ?? '').split(path.delimiter).filter(Boolean).map((d) => path.join(d, 'virtiofsd'));
  for (const candidate of [...known, ...onPath]) {
    if (await access(candidate, constants.X_OK).then(() => true, () => false)) return candidate;
  }
  throw new BoxError('ERR_VIRTIOFSD_MISSING', `virtiofsd not found (looked in ${known.join(', ')} and PATH): synced folders of type virtiofs need it on the host.`, {
    hint: 'Install it with `apt-get install virtiofsd` (Debian 13, Ubuntu 24.04; Debian 12 ships it in qemu-system-common as /usr/lib/qemu/virtiofsd), or use `type: rsync`.',
  });
}

/** The vhost-user socket of the machine's synced folder number `index`. */
export function virtiofsdSocket(dir: string, index: number): string {
  return machineSocketPath(dir, `virtiofs-${index}.sock`);
}

/** Its log (virtiofsd's stderr), in the machine folder. */
export function virtiofsdLog(dir: string, index: number): string {
  return path.join(dir, `virtiofsd-${index}.log`);
}

/**
 * The pid file QEMU 7.2's virtiofsd locks, named after its socket (slashes become dots), in
 * /var/run/virtiofsd: it never removes it, so box does once the process is gone.
 */
export function virtiofsdPidFile(socket: string): string {
  return path.join('/var/run/virtiofsd', `${socket.replaceAll('/', '.')}.pid`);
}

/**
 * `-o` values are comma-separated (libfuse's option parser): a comma or backslash in the
 * folder's path is escaped with a backslash.
 */
function fuseOptionValue(value: string): string {
  return value.replaceAll('\\', '\\\\').replaceAll(',', '\\,');
}

/**
 * Its arguments: the socket, the folder, and `cache=auto` (metadata cached for a second, data
 * until the file changes: host edits show in the guest within a second; `none` would bypass
 * the page cache and break shared mmap). `-o source`/`cache` are understood by both the C and
 * the Rust virtiofsd.
 */
export function virtiofsdArgs(folder: {source: string; socket: string}): string[] {
  return [`--socket-path=${folder.socket}`, '-o', `source=${fuseOptionValue(folder.source)}`, '-o', 'cache=auto'];
}

/** Is this command line a virtiofsd serving a folder of the machine in `dir`? */
export function virtiofsdOfMachine(args: readonly string[], dir: string): boolean {
  if (path.basename(args[0] ?? '') !== 'virtiofsd') return false;
  return args.some((arg) => {
    const index = /^--socket-path=.*virtiofs-(\d+)(?:-[0-9a-f]{16})?\.sock$/.exec(arg)?.[1];
    return index !== undefined && arg === `--socket-path=${virtiofsdSocket(dir, Number(index))}`;
  });
}

/**
 * Starts virtiofsd for one folder, detached (it serves the QEMU that box daemonizes next), and
 * returns its pid once its socket exists. A virtiofsd that exits first (not root, a missing
 * folder) is an ERR_VIRTIOFSD error quoting its log.
 */
export async function startVirtiofsd(binary: string, folder: {source: string; socket: string; log: string}, timeoutMs = 10_000): Promise<number> {
  await rm(folder.socket, {force: true});
  const log = await open(folder.log, 'w');
  let pid: number | undefined;
  try {
    const child = spawn(binary, virtiofsdArgs(folder), {detached: true, stdio: ['ignore', log.fd, log.fd]});
    child.on('error', () => undefined);
    child.unref();
    pid = child.pid;
  } finally {
    await log.close();
  }
  const deadline = Date.now() + timeoutMs;
  while (pid !== undefined && pidAlive(pid) && !existsSync(folder.socket) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  if (pid !== undefined && pidAlive(pid) && existsSync(folder.socket)) return pid;
  if (pid !== undefined) signal(pid, 'SIGKILL');
  const said = (await readFile(folder.log, 'utf8').catch(() => '')).trim().split('\n').slice(-5).join('\n');
  throw new BoxError('ERR_VIRTIOFSD', `virtiofsd (${binary}) did not start for ${folder.source}${said ? `:\n${said}` : '.'}`, {
    hint: 'QEMU 7.2\'s virtiofsd (/usr/lib/qemu/virtiofsd) must run as root; otherwise use `type: rsync` for this folder.',
  });
}

/**
 * Stops every virtiofsd of the machine in `dir` (found by its command line: it may outlive the
 * box that recorded it) and removes the sockets and pid files of the given sockets. Throws ERR_DESTROY_INCOMPLETE for one that
 * survives SIGKILL.
 */
export async function stopVirtiofsds(dir: string, sockets: readonly string[] = []): Promise<void> {
  const pids = await pidsWhere((args) => virtiofsdOfMachine(args, dir));
  for (const pid of pids) signal(pid, 'SIGTERM');
  const stuck: number[] = [];
  for (const pid of pids) {
    if (await waitForExit(pid, 3000)) continue;
    signal(pid, 'SIGKILL');
    if (!(await waitForExit(pid, 5000))) stuck.push(pid);
  }
  for (const socket of sockets) {
    await rm(socket, {force: true});
    // Only root can write there (and only root runs that virtiofsd).
    await rm(virtiofsdPidFile(socket), {force: true}).catch(() => undefined);
  }
  if (stuck.length > 0) {
    throw new BoxError('ERR_DESTROY_INCOMPLETE', `virtiofsd (pid ${stuck.join(', ')}) did not exit after SIGKILL.`, {hint: `Look at \`ps -o pid,stat,cmd -p ${stuck.join(',')}\`, then run the command again.`});
  }
}

/** process.kill, for a process that may have exited meanwhile. */
function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // gone already
  }
}
