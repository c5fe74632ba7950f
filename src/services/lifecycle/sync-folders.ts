import path from 'node:path';
import type {SyncedFolder} from '../../boxfile/project.js';
import type {SshInfo} from '../../communicators/communicator.js';
import {prepareGuestForRsync} from '../../synced-folders/guest-rsync.js';
import {openSshMaster} from '../../synced-folders/ssh-master.js';
import {checkHostRsync, rsyncFolders, rsyncJob, runRsync, withRsyncWorkDir} from '../../synced-folders/rsync-folders.js';
import type {RsyncStats} from '../../synced-folders/rsync-stats.js';
import {openCommunicator, type MachineHandle} from './machines.js';

/** What syncing one folder did (the `sync` entry of `box up --json`, and `box rsync --json`). */
export interface FolderSyncResult extends RsyncStats {
  source: string;
  destination: string;
  durationMs: number;
}

/**
 * A machine's rsync folders with the guest made ready once (rsync there, destinations made,
 * owners resolved) and one SSH connection open, so they can be copied again and again
 * (`box rsync-auto`) in one rsync run each. `close` it when done.
 */
export interface FolderSyncer {
  folders: SyncedFolder[];
  sync(index: number, signal: AbortSignal): Promise<FolderSyncResult>;
  /** Ends the shared SSH connection. */
  close(): Promise<void>;
}

const sizeText = (bytes: number): string => (bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 / 1024).toFixed(1)} MiB`);

/** "12 files sent (3.2 KiB), 1 deleted" */
export function describeSync(result: FolderSyncResult): string {
  return `${result.filesTransferred} file${result.filesTransferred === 1 ? '' : 's'} sent (${sizeText(result.bytesTransferred)}), ${result.filesDeleted} deleted, in ${(result.durationMs / 1000).toFixed(1)} s`;
}

/**
 * Readies a machine's rsync folders: the host's rsync checked, then the guest (see
 * prepareGuestForRsync). Undefined when the machine has no rsync folder (9p and virtiofs folders
 * are the target's to share).
 */
export async function prepareFolderSync(handle: MachineHandle, options: {info?: SshInfo} = {}): Promise<FolderSyncer | undefined> {
  const {ctx, machine} = handle;
  const folders = rsyncFolders(machine.syncedFolders);
  if (folders.length === 0) return undefined;
  await checkHostRsync(ctx.signal);
  const ssh = options.info ?? await handle.provider.sshInfo(ctx);
  // Every rsync run shares one SSH connection (no handshake per copy: about a second each
  // against a TCG guest), opened while the guest is made ready over box's own connection.
  const opening = openSshMaster(ssh, ctx.signal);
  opening.catch(() => undefined);
  const comm = await openCommunicator(handle, ssh);
  let owners: Array<{owner: string; group: string}>;
  try {
    await comm.waitForReady(Math.max(30, machine.ssh.timeoutSeconds) * 1000, ctx.signal);
    owners = await prepareGuestForRsync(comm, machine.name, folders.map((f) => f.destination), folders, {
      signal: ctx.signal,
      onInstall: () => ctx.ui.info(`${machine.name}: installing rsync in the guest`),
    });
  } catch (error) {
    await opening.then((master) => master.close(), () => undefined);
    throw error;
  } finally {
    await comm.close().catch(() => undefined);
  }
  const master = await opening;
  return {
    folders,
    sync: (index, signal) => withRsyncWorkDir(async (dir) => {
      const t0 = Date.now();
      const folder = folders[index]!;
      const job = await rsyncJob(folder, path.dirname(ctx.project.boxfilePath), owners[index]!, dir, index, signal);
      const stats = await runRsync(job, ssh, {signal, sshExtra: master.sshExtra});
      return {source: folder.source, destination: folder.destination, ...stats, durationMs: Date.now() - t0};
    }),
    close: () => master.close(),
  };
}

/**
 * Copies every rsync folder of a running machine into its guest (`box up`, `box reload`,
 * `box rsync`), one after another, saying what each did. No lock taken: the caller holds it.
 */
export async function syncFolders(handle: MachineHandle, info?: SshInfo): Promise<FolderSyncResult[]> {
  const {ctx} = handle;
  const syncer = await prepareFolderSync(handle, {info});
  if (!syncer) return [];
  const results: FolderSyncResult[] = [];
  try {
    for (const [index, folder] of syncer.folders.entries()) {
      ctx.ui.stage('rsync', `${folder.source} → ${handle.machine.name}:${folder.destination}`);
      const result = await syncer.sync(index, ctx.signal);
      ctx.ui.info(`${handle.machine.name}: ${folder.destination}: ${describeSync(result)}`);
      results.push(result);
    }
  } finally {
    await syncer.close();
  }
  return results;
}
