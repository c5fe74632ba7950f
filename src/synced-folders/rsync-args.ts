import path from 'node:path';
import type {SshInfo} from '../communicators/communicator.js';
import {sshOptions} from '../communicators/ssh/openssh.js';
import {BoxError} from '../core/errors.js';

/** What one rsync run copies, and as whom: a synced folder with everything the guest decided filled in. */
export interface RsyncJob {
  /** Absolute folder on the host. */
  source: string;
  /** Absolute path in the guest. */
  destination: string;
  /** rsync exclude patterns, as written in the Boxfile. */
  exclude: readonly string[];
  /** Paths that must never be copied, relative to the source (the project's .box/), anchored. */
  alwaysExclude: readonly string[];
  /** A merge file of `- /path` rules (NUL-separated) listing what git ignores, or the dir-merge fallback. */
  gitignore?: {mergeFile: string} | 'dir-merge';
  owner: string;
  group: string;
}

/**
 * Quotes one word of rsync's `-e` command. rsync splits that command itself (not a shell):
 * spaces separate words, single or double quotes keep spaces, and a backslash is no escape.
 */
export function rsyncShellWord(word: string): string {
  if (word !== '' && /^[\w@%+=:,./-]+$/.test(word)) return word;
  if (!word.includes("'")) return `'${word}'`;
  if (!word.includes('"')) return `"${word}"`;
  throw new BoxError('ERR_RSYNC_ARGS', `Cannot pass ${JSON.stringify(word)} to rsync's ssh command: it holds both kinds of quote.`);
}

/**
 * The ssh command rsync runs (`-e`): box's own OpenSSH options for the machine (its key, port,
 * no host-key recording), never prompting. `extra` adds options such as a ControlPath.
 */
export function rsyncSshCommand(info: SshInfo, extra: readonly string[] = []): string {
  return ['ssh', '-F', '/dev/null', ...sshOptions(info), '-o', 'BatchMode=yes', ...extra].map(rsyncShellWord).join(' ');
}

/** `user@host:path` for rsync, with an IPv6 address in brackets. */
function remoteSpec(info: SshInfo, destination: string): string {
  const host = info.host.includes(':') ? `[${info.host}]` : info.host;
  return `${info.username}@${host}:${destination}`;
}

/**
 * Turns a path relative to the source into an anchored rsync rule that matches only it: the
 * wildcard characters rsync would interpret are escaped (a backslash escapes them once the
 * pattern holds a wildcard, which an escaped one counts as).
 */
export function anchoredPattern(relative: string, directory: boolean): string {
  const escaped = relative.split(path.sep).join('/').replace(/[\\*?[]/g, (c) => `\\${c}`);
  return `/${escaped}${directory && !escaped.endsWith('/') ? '/' : ''}`;
}

/**
 * The argv (without the binary) of one rsync run host → guest. As Vagrant's rsync folders:
 * `--archive` keeps times, modes and links; `--delete` removes in the guest what was removed on
 * the host (excluded and ignored files in the guest are left alone: they are not the host's to
 * delete, e.g. node_modules built in the guest); the guest's rsync runs with sudo so that
 * `--chown` can hand the files to any user and the destination may be anywhere (/srv/app).
 * `--stats` is parsed for the result.
 */
export function rsyncArgs(job: RsyncJob, info: SshInfo, options: {sshExtra?: readonly string[]} = {}): string[] {
  const filters: string[] = [];
  for (const rule of job.alwaysExclude) filters.push(`--exclude=${rule}`);
  for (const pattern of job.exclude) filters.push(`--exclude=${pattern}`);
  if (job.gitignore === 'dir-merge') filters.push('--filter=:- .gitignore');
  else if (job.gitignore) filters.push('--from0', `--filter=merge ${job.gitignore.mergeFile}`);
  return [
    '--archive',
    '--delete',
    '--stats',
    `--chown=${job.owner}:${job.group}`,
    '--rsync-path=sudo -n rsync',
    '-e', rsyncSshCommand(info, options.sshExtra),
    ...filters,
    // The trailing slash copies the folder's contents into the destination, not the folder into it.
    `${job.source.replace(/\/+$/, '')}/`,
    remoteSpec(info, job.destination),
  ];
}
