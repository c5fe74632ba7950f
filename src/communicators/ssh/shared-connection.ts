import {spawn} from 'node:child_process';
import {createHash} from 'node:crypto';
import {lstatSync, mkdirSync, readdirSync, readFileSync, realpathSync} from 'node:fs';
import {lstat, rm, rmdir} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {boxHome} from '../../core/paths.js';
import {waitForExit} from '../../core/processes.js';

/**
 * `box ssh` shares one OpenSSH connection per machine (ControlMaster), as Lima does for its
 * instances: the first `box ssh` opens it and leaves it in the background, and every later one
 * opens a channel on it instead of a new handshake, which against a guest under TCG is most of a
 * second (issue 15: `box ssh -c` within 10 % of plain OpenSSH).
 *
 * The background master outlives box, so box ends it whenever the guest's session ends: halt,
 * suspend, destroy, snapshot restore, package and any up that boots (`closeSharedConnection`,
 * from the lifecycle services). Without box it still ends: QEMU's and VirtualBox's port
 * forwards close with their process, a guest that stops answering is dropped after 3 missed
 * 5-s keep-alives, and an idle master exits after `IDLE_SECONDS`.
 */
const IDLE_SECONDS = 600;

/**
 * The master's socket for the machine whose state lives in `machineDir`, in box's home
 * (`BOX_HOME/ssh`, a folder only this user can enter). The name is a hash: a Unix socket path
 * has ~104 bytes and OpenSSH adds 17 while it creates one, and a project's path can be longer.
 * undefined where no shared connection is used: Windows' OpenSSH has no ControlMaster, and a
 * home whose path leaves no room for the socket. (`sharedConnectionOptions` also refuses a
 * socket folder someone else owns or can enter.)
 */
export function sharedConnectionPath(machineDir: string, home = boxHome()): string | undefined {
  if (process.platform === 'win32') return undefined;
  const dir = path.join(home, 'ssh');
  // The real path: a project reached through a symlink is still one machine, with one connection.
  const key = realpathOr(machineDir);
  const socket = path.join(dir, `${createHash('sha256').update(key).digest('hex').slice(0, 16)}.sock`);
  if (Buffer.byteLength(socket) + 17 > 103) return undefined;
  return socket;
}

function realpathOr(dir: string): string {
  try {
    return realpathSync(dir);
  } catch {
    return path.resolve(dir);
  }
}

/** Makes the socket folder (mode 0700) and checks it is this user's alone; false: do not share. */
function ownSocketFolder(dir: string): boolean {
  try {
    mkdirSync(dir, {recursive: true, mode: 0o700});
    const stat = lstatSync(dir);
    return stat.isDirectory() && stat.uid === os.userInfo().uid && (stat.mode & 0o077) === 0;
  } catch {
    return false;
  }
}

/** ssh options that open or join the machine's shared connection (none where there is none). */
export function sharedConnectionOptions(machineDir: string): string[] {
  const socket = sharedConnectionPath(machineDir);
  if (socket === undefined || !ownSocketFolder(path.dirname(socket))) return [];
  return [
    '-o', 'ControlMaster=auto',
    '-o', `ControlPath=${socket}`,
    '-o', `ControlPersist=${IDLE_SECONDS}`,
    '-o', 'ServerAliveInterval=5',
    '-o', 'ServerAliveCountMax=3',
  ];
}

/**
 * Ends the machine's shared connection, if one is open, and every session on it (an interactive
 * `box ssh` included: its guest is going away). Waits for the master to be gone; a master that
 * does not obey `ssh -O exit` (hung, stopped) is killed.
 */
export async function closeSharedConnection(machineDir: string): Promise<void> {
  const socket = sharedConnectionPath(machineDir);
  if (socket === undefined || !(await lstat(socket).then((s) => s.isSocket(), () => false))) return;
  // The pid comes from /proc where there is one: a master too hung to answer `-O check` is found too.
  const pid = masterPid(socket) ?? Number(/pid=(\d+)/.exec((await controlCommand(socket, 'check')).stderr)?.[1]);
  await controlCommand(socket, 'exit');
  // Killed only while it is still that master (on Linux, checked: never a process that took its pid).
  if (Number.isInteger(pid) && pid > 0 && !(await waitForExit(pid, 2000)) && (process.platform !== 'linux' || masterPid(socket) === pid)) {
    process.kill(pid, 'SIGKILL');
    await waitForExit(pid, 2000);
  }
  // A master that died without cleaning up (kill -9) leaves its socket.
  await rm(socket, {force: true});
  // The folder goes with its last socket: no machine runs, nothing of box's is left.
  await rmdir(path.dirname(socket)).catch(() => undefined);
}

/** The master of `socket` from /proc (OpenSSH names it "ssh: SOCKET [mux]"); undefined without one or without /proc. */
function masterPid(socket: string): number | undefined {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return undefined;
  }
  const title = `ssh: ${socket} [mux]`;
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').replaceAll('\0', ' ').trim() === title) return Number(entry);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

/** `ssh -O CMD` on the master behind `socket` ("Master running (pid=N)" comes on stderr). */
function controlCommand(socket: string, command: 'check' | 'exit'): Promise<{exitCode: number | null; stderr: string}> {
  return new Promise((resolve) => {
    const child = spawn('ssh', ['-F', '/dev/null', '-o', `ControlPath=${socket}`, '-O', command, 'box-shared-connection'], {stdio: ['ignore', 'ignore', 'pipe'], timeout: 2000});
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', () => resolve({exitCode: null, stderr}));
    child.on('close', (exitCode) => resolve({exitCode, stderr}));
  });
}
