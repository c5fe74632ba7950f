import {mkdtemp, rm} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type {SyncedFolder} from '../boxfile/project.js';
import type {SshInfo} from '../communicators/communicator.js';
import {run} from '../core/exec.js';
import {projectStateDir} from '../core/paths.js';
import {gitIgnoredRules, writeGitIgnoredRules} from './gitignore.js';
import {anchoredPattern, rsyncArgs, type RsyncJob} from './rsync-args.js';
import {parseRsyncStats, type RsyncStats} from './rsync-stats.js';

export const RSYNC_INSTALL_HINT = 'Install rsync on this host: `sudo apt-get install rsync` (Debian/Ubuntu), `sudo dnf install rsync` (Fedora), `brew install rsync` (macOS).';

/** rsync folders need the host's rsync: a clear error with an install hint when it is missing. */
export async function checkHostRsync(signal?: AbortSignal): Promise<void> {
  await run('rsync', ['--version'], {signal, errorCode: 'ERR_RSYNC_MISSING', hint: RSYNC_INSTALL_HINT, timeoutMs: 30_000});
}

/** The folders of a machine that rsync copies (9p and virtiofs folders are shared by the target instead). */
export function rsyncFolders(folders: readonly SyncedFolder[]): SyncedFolder[] {
  return folders.filter((f) => f.type === 'rsync');
}

/**
 * The project's own state folder (.box/) relative to a synced folder, as the anchored rule that
 * keeps it out (as Vagrant keeps .vagrant/ out); none when the folder does not hold it.
 */
export function stateDirRules(source: string, projectRoot: string): string[] {
  const relative = path.relative(source, projectStateDir(projectRoot));
  if (relative === '' || relative.startsWith('..') || path.isAbsolute(relative)) return [];
  return [anchoredPattern(relative, true)];
}

/** The rsync run for one folder, owner and group decided, its .gitignore rules in `workDir`. */
export async function rsyncJob(folder: SyncedFolder, projectRoot: string, owner: {owner: string; group: string}, workDir: string, index: number, signal?: AbortSignal): Promise<RsyncJob> {
  let gitignore: RsyncJob['gitignore'];
  if (folder.gitignore) {
    const rules = await gitIgnoredRules(folder.source, signal);
    gitignore = rules === undefined ? 'dir-merge' : {mergeFile: await writeGitIgnoredRules(rules, workDir, `folder-${index}`)};
  }
  return {
    source: folder.source, destination: folder.destination, exclude: folder.exclude,
    alwaysExclude: stateDirRules(folder.source, projectRoot),
    ...(gitignore ? {gitignore} : {}),
    owner: owner.owner, group: owner.group,
  };
}

/** Runs rsync for one folder (LANG=C, cancelled with `signal`) and reads what it did. */
export async function runRsync(job: RsyncJob, info: SshInfo, options: {signal?: AbortSignal; sshExtra?: readonly string[]} = {}): Promise<RsyncStats> {
  const stdout = await run('rsync', rsyncArgs(job, info, {sshExtra: options.sshExtra}), {
    signal: options.signal, errorCode: 'ERR_RSYNC', hint: `Check that ${job.source} is readable and that the guest has room at ${job.destination}.`,
  });
  return parseRsyncStats(stdout);
}

/** A temp folder for the .gitignore rule files of one sync round, removed after `fn`. */
export async function withRsyncWorkDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'box-rsync-'));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, {recursive: true, force: true});
  }
}
