import {spawn} from 'node:child_process';
import type {SshInfo} from '../communicator.js';

/**
 * Options for the system's OpenSSH client. Host keys of local guests change on every recreate
 * (and cloned boxes share them), so they are not recorded, as Vagrant does for its machines.
 */
export function sshOptions(info: SshInfo): string[] {
  return [
    ...sshCommonOptions(),
    '-i', info.privateKeyPath,
    '-p', String(info.port),
  ];
}

/** The `-o` options of every box machine (what ansible's ssh_common_args carries). */
export function sshCommonOptions(): string[] {
  return [
    '-o', 'StrictHostKeyChecking=no',
    '-o', 'UserKnownHostsFile=/dev/null',
    '-o', 'LogLevel=ERROR',
    '-o', 'IdentitiesOnly=yes',
    '-o', 'PasswordAuthentication=no',
  ];
}

/** box's options for an `ssh` that must never prompt and reads no user ssh_config (rsync's `-e`, a master connection). */
export function batchSshOptions(info: SshInfo): string[] {
  return ['-F', '/dev/null', ...sshOptions(info), '-o', 'BatchMode=yes'];
}

/** argv for `ssh` (without the binary): interactive when `command` is absent. */
export function sshArgs(info: SshInfo, options: {command?: string; tty?: boolean; batch?: boolean; connectTimeout?: number} = {}): string[] {
  return [
    '-F', '/dev/null',
    ...sshOptions(info),
    ...(options.batch ? ['-o', 'BatchMode=yes'] : []),
    ...(options.connectTimeout ? ['-o', `ConnectTimeout=${options.connectTimeout}`] : []),
    ...(options.tty ? ['-t'] : []),
    `${info.username}@${info.host}`,
    ...(options.command === undefined ? [] : ['--', options.command]),
  ];
}

/** A Host block for `ssh -F FILE HOST`, ansible's ssh_args and the like. */
export function sshConfigBlock(host: string, info: SshInfo): string {
  return [
    `Host ${host}`,
    `  HostName ${info.host}`,
    `  User ${info.username}`,
    `  Port ${info.port}`,
    '  UserKnownHostsFile /dev/null',
    '  StrictHostKeyChecking no',
    '  PasswordAuthentication no',
    `  IdentityFile "${info.privateKeyPath}"`,
    '  IdentitiesOnly yes',
    '  LogLevel ERROR',
    '',
  ].join('\n');
}

export interface OpenSshRun {
  /** ssh's exit code; undefined when it could not start or was killed by a signal. */
  exitCode?: number;
  /** Why ssh did not run or end on its own ("spawn ssh ENOENT", "killed with SIGKILL"). */
  failure?: string;
  /** What ssh printed, with one final newline taken off, when `capture` is set. */
  stdout?: string;
  stderr?: string;
}

/**
 * Runs the system's `ssh` to its end: on the terminal, or capturing its output (`capture`).
 * Aborting `signal` sends it SIGTERM. node:child_process rather than execa: `box ssh -c` spends
 * its time before ssh starts on loading modules, and execa is about a hundred of them.
 */
export async function runOpenSsh(args: readonly string[], options: {capture?: boolean; signal?: AbortSignal} = {}): Promise<OpenSshRun> {
  return new Promise((resolve) => {
    const child = spawn('ssh', args, {stdio: options.capture ? ['ignore', 'pipe', 'pipe'] : 'inherit'});
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr?.on('data', (chunk: Buffer) => err.push(chunk));
    const abort = () => child.kill('SIGTERM');
    options.signal?.addEventListener('abort', abort, {once: true});
    const captured = () => (options.capture ? {stdout: withoutFinalNewline(out), stderr: withoutFinalNewline(err)} : {});
    let spawnError: Error | undefined;
    child.on('error', (error) => {
      spawnError = error;
    });
    child.on('close', (code, signal) => {
      options.signal?.removeEventListener('abort', abort);
      if (spawnError) resolve({failure: spawnError.message, ...captured()});
      else if (code === null) resolve({failure: `ssh was killed with ${signal}`, ...captured()});
      else resolve({exitCode: code, ...captured()});
    });
  });
}

function withoutFinalNewline(chunks: Buffer[]): string {
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}
