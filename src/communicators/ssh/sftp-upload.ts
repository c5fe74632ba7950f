import {lstat, readdir, readlink, stat} from 'node:fs/promises';
import path from 'node:path';
import type {SFTPWrapper, Stats} from 'ssh2';
import {BoxError, errorMessage, throwIfAborted} from '../../core/errors.js';

const posix = path.posix;

function call<T>(fn: (cb: (error: Error | null | undefined, value: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    fn((error, value) => (error ? reject(error) : resolve(value)));
  });
}

/** SFTP status code 2 (SSH_FX_NO_SUCH_FILE). */
function isMissing(error: unknown): boolean {
  return (error as {code?: number}).code === 2;
}

/** `~` and `~/x` mean the login user's home; SFTP resolves "." to it. */
export async function expandRemoteHome(sftp: SFTPWrapper, remote: string): Promise<string> {
  if (remote !== '~' && !remote.startsWith('~/')) return remote;
  const home = await call<string>((cb) => sftp.realpath('.', cb));
  return remote === '~' ? home : posix.join(home, remote.slice(2));
}

async function remoteStat(sftp: SFTPWrapper, remote: string): Promise<Stats | undefined> {
  try {
    return await call<Stats>((cb) => sftp.stat(remote, cb));
  } catch (error) {
    if (isMissing(error)) return undefined;
    throw error;
  }
}

/** `mkdir -p` over SFTP. */
export async function mkdirRemote(sftp: SFTPWrapper, dir: string): Promise<void> {
  const existing = await remoteStat(sftp, dir);
  if (existing) {
    if (!existing.isDirectory()) throw new Error(`${dir} exists and is not a directory`);
    return;
  }

  const parent = posix.dirname(dir);
  if (parent !== dir) await mkdirRemote(sftp, parent);
  try {
    await call<void>((cb) => sftp.mkdir(dir, (error) => cb(error, undefined)));
  } catch (error) {
    // Another upload may have created it meanwhile.
    if (!(await remoteStat(sftp, dir))?.isDirectory()) throw error;
  }
}

async function putFile(sftp: SFTPWrapper, local: string, remote: string, mode: number): Promise<void> {
  await call<void>((cb) => sftp.fastPut(local, remote, {mode}, (error) => cb(error, undefined)));
  // fastPut's mode only applies to new files (and the umask trims it): set it explicitly.
  await call<void>((cb) => sftp.chmod(remote, mode, (error) => cb(error, undefined)));
}

interface TreeEntry {
  kind: 'dir' | 'file' | 'link';
  local: string;
  remote: string;
  mode: number;
}

/** The local tree, parents before children. Sockets, FIFOs and devices are skipped. */
async function walk(localDir: string, remoteDir: string, into: TreeEntry[], signal?: AbortSignal): Promise<TreeEntry[]> {
  into.push({kind: 'dir', local: localDir, remote: remoteDir, mode: (await stat(localDir)).mode & 0o7777});
  for (const entry of await readdir(localDir, {withFileTypes: true})) {
    throwIfAborted(signal);
    const local = path.join(localDir, entry.name);
    const remote = posix.join(remoteDir, entry.name);
    if (entry.isDirectory()) await walk(local, remote, into, signal);
    // Links are recreated as links (a link to a folder could otherwise loop forever).
    else if (entry.isSymbolicLink()) into.push({kind: 'link', local, remote, mode: 0});
    else if (entry.isFile()) into.push({kind: 'file', local, remote, mode: (await lstat(local)).mode & 0o7777});
  }

  return into;
}

/** Runs `fn` over `items`, at most `limit` at a time (SFTP pipelines requests on one channel). */
async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]);
  };

  await Promise.all(Array.from({length: Math.min(limit, items.length)}, worker));
}

async function putTree(sftp: SFTPWrapper, localDir: string, remoteDir: string, signal?: AbortSignal): Promise<number> {
  const entries = await walk(localDir, remoteDir, [], signal);
  const dirs = entries.filter((e) => e.kind === 'dir');
  for (const dir of dirs) await mkdirRemote(sftp, dir.remote);
  await eachLimited(entries.filter((e) => e.kind !== 'dir'), 8, async (entry) => {
    throwIfAborted(signal);
    if (entry.kind === 'file') {
      await putFile(sftp, entry.local, entry.remote, entry.mode);
      return;
    }

    const target = await readlink(entry.local);
    // Replace what is there (possibly a dangling link, which stat would not see).
    await call<void>((cb) => sftp.unlink(entry.remote, (error) => cb(error, undefined))).catch(() => undefined);
    await call<void>((cb) => sftp.symlink(target, entry.remote, (error) => cb(error, undefined)));
  });
  // Folder modes last (deepest first), so a read-only folder does not block its own contents.
  for (const dir of dirs.reverse()) await call<void>((cb) => sftp.chmod(dir.remote, dir.mode, (error) => cb(error, undefined)));
  return entries.length - dirs.length;
}

/**
 * Uploads a file or a whole folder. A folder's contents end up in `remote` (created if needed,
 * merged if it exists), like `cp -r src/. remote`; file modes are preserved; parents are created.
 * Returns the number of files written.
 */
export async function sftpUpload(sftp: SFTPWrapper, local: string, remote: string, signal?: AbortSignal): Promise<number> {
  let localStat;
  try {
    localStat = await stat(local);
  } catch {
    throw new BoxError('ERR_UPLOAD_SOURCE_MISSING', `Cannot upload ${JSON.stringify(local)}: no such file or folder on the host`, {
      hint: 'Check the path; relative paths are resolved against the folder of the Boxfile.',
    });
  }

  const target = await expandRemoteHome(sftp, remote);
  try {
    if (localStat.isDirectory()) return await putTree(sftp, local, target, signal);
    const existing = await remoteStat(sftp, target);
    // Uploading a file onto an existing folder puts it inside, like cp.
    const destination = existing?.isDirectory() ? posix.join(target, path.basename(local)) : target;
    await mkdirRemote(sftp, posix.dirname(destination));
    await putFile(sftp, local, destination, localStat.mode & 0o7777);
    return 1;
  } catch (error) {
    if (error instanceof BoxError) throw error;
    throw new BoxError('ERR_SSH_UPLOAD', `Uploading ${JSON.stringify(local)} to ${JSON.stringify(target)} failed: ${errorMessage(error)}`, {
      hint: 'The SSH user must be able to write the destination; upload to a folder it owns (e.g. /tmp) and move it with a privileged shell provisioner.',
      cause: error,
    });
  }
}
