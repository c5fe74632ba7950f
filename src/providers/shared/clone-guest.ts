import {copyFile, readFile} from 'node:fs/promises';
import path from 'node:path';
import {BoxError, UsageError} from '../../core/errors.js';
import {machineFiles} from '../../core/paths.js';
import type {Communicator} from '../../communicators/communicator.js';

/** A copy of the source machine's private key in the clone's folder: the clone's guest still trusts it at its first boot. */
export const CLONE_SOURCE_KEY_FILE = 'clone-source-key';

/** What every target records of a clone's origin, for its first login. */
export interface CloneOrigin {
  /** The source machine. */
  of: string;
  /** The source's key at clone time (absent when the source had none). */
  sourceKey?: string;
}

/** `--from SOURCE@SNAPSHOT` naming a snapshot SOURCE does not have (usage, exit 2): the error names those it has. */
export function unknownCloneSnapshot(source: string, snapshot: string, names: string[]): UsageError {
  return new UsageError('ERR_SNAPSHOT_NOT_FOUND', `Machine ${source} has no snapshot ${JSON.stringify(snapshot)}.`, {
    hint: names.length > 0 ? `Its snapshots: ${names.join(', ')}.` : `It has no snapshots; clone its current disk with --from ${source} (halted), or save one first.`,
  });
}

/** Copies the source machine's private key into the clone's folder (0600), if it has one. */
export async function copySourceKey(sourceDir: string, cloneDir: string): Promise<string | undefined> {
  const target = path.join(cloneDir, CLONE_SOURCE_KEY_FILE);
  try {
    await copyFile(path.join(sourceDir, machineFiles.privateKey), target);
    return target;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new BoxError('ERR_CLONE_SOURCE', `Could not copy the key of the source machine: ${(error as Error).message}`);
  }
}

/**
 * The key that opens a clone's guest at its first boot: the source's key when its disk state
 * still trusts it, else `fallback` (the box's first key; undefined: Vagrant's insecure key — a
 * source packaged with `box package` has it back, a snapshot may predate either). Tried in that
 * order, once the guest's sshd answers.
 */
export async function cloneFirstLoginKey(target: {port: number; username: string}, origin: CloneOrigin, fallback: string | undefined, timeoutMs: number, signal: AbortSignal): Promise<string | undefined> {
  if (!origin.sourceKey) return fallback;
  const {SshCommunicator} = await import('../../communicators/ssh/ssh-communicator.js');
  const comm = await SshCommunicator.fromSshInfo({host: '127.0.0.1', ...target, privateKeyPath: origin.sourceKey}, {keyName: `the key of ${origin.of}`});
  try {
    await comm.waitForReady(timeoutMs, signal);
    return origin.sourceKey;
  } catch (error) {
    if (error instanceof BoxError && error.code === 'ERR_SSH_AUTH') return fallback;
    throw error;
  } finally {
    await comm.close();
  }
}

/** After the clone's key swap: its own machine-id and SSH host keys, logged in with its own key. */
export async function giveCloneItsIdentity(info: {port: number; username: string; privateKeyPath: string}, machine: string, timeoutMs: number, signal: AbortSignal): Promise<void> {
  const {SshCommunicator} = await import('../../communicators/ssh/ssh-communicator.js');
  const {newGuestIdentity} = await import('./package-guest.js');
  const comm = await SshCommunicator.fromSshInfo({host: '127.0.0.1', ...info}, {keyName: `the machine key ${info.privateKeyPath}`});
  try {
    await comm.waitForReady(timeoutMs, signal);
    await newGuestIdentity(comm, machine, signal);
  } finally {
    await comm.close();
  }
}

/** The public key of a private key file, or undefined when it cannot be read (a source without a key of its own). */
export async function publicKeyOfFile(privateKeyPath: string | undefined): Promise<string | undefined> {
  if (!privateKeyPath) return undefined;
  const {publicKeyOf} = await import('../../communicators/keys.js');
  try {
    return publicKeyOf(await readFile(privateKeyPath, 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * For a clone whose own key reached the guest BESIDE its source's (aws: cloud-init adds the
 * launch key pair to authorized_keys, and the disk, being the source's, still lists the
 * source's key): over a connection logged in with the clone's own key, the source's key is
 * taken out and the clone gets its own machine-id and SSH host keys, in one round. A source
 * and clone that share one key (a Boxfile's own key_name) keep it.
 */
export async function dropSourceKey(comm: Communicator, keys: {sourcePublicKey?: string; ownPrivateKeyPath: string}, machine: string, signal: AbortSignal): Promise<void> {
  const own = await publicKeyOfFile(keys.ownPrivateKeyPath);
  if (!own) throw new BoxError('ERR_CLONE_IDENTITY', `The key of the clone ${machine} (${keys.ownPrivateKeyPath}) cannot be read.`);
  const [{replaceInsecureKey}, {newGuestIdentityScript}] = await Promise.all([import('../../communicators/ssh/replace-insecure-key.js'), import('./package-guest.js')]);
  await replaceInsecureKey(comm, own, {
    oldPublicKey: keys.sourcePublicKey ?? own,
    thenRun: {script: newGuestIdentityScript(), what: `give the clone ${machine} its own machine-id and SSH host keys`},
    signal,
  });
}
