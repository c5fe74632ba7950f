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

async function putTree(sftp: SFTPWrapper, localDir: string, remoteDir: string, signal?: AbortSignal): Promise<number> {
  const mode = (await stat(localDir)).mode & 0o7777;
  await mkdirRemote(sftp, remoteDir);
  let files = 0;
  for (const entry of await readdir(localDir, {withFileTypes: true})) {
    throwIfAborted(signal);
    const from = path.join(localDir, entry.name);
    const to = posix.join(remoteDir, entry.name);
    if (entry.isDirectory()) {
      files += await putTree(sftp, from, to, signal);
    } else if (entry.isSymbolicLink()) {
      // Recreate links as links (a link to a folder could otherwise loop forever).
      const target = await readlink(from);
      if (await remoteStat(sftp, to).catch(() => undefined)) await call<void>((cb) => sftp.unlink(to, (error) => cb(error, undefined)));
      await call<void>((cb) => sftp.symlink(target, to, (error) => cb(error, undefined)));
      files++;
    } else if (entry.isFile()) {
      await putFile(sftp, from, to, (await lstat(from)).mode & 0o7777);
      files++;
    }
    // Sockets, FIFOs and devices are skipped: they cannot be copied as content.
  }

  await call<void>((cb) => sftp.chmod(remoteDir, mode, (error) => cb(error, undefined)));
  return files;
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
