import {mkdtemp, rm} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {setTimeout as sleep} from 'node:timers/promises';
import type {SshInfo} from '../communicators/communicator.js';
import {batchSshOptions} from '../communicators/ssh/openssh.js';
import {BoxError} from '../core/errors.js';
import {loadExeca, spawnInOwnGroup} from '../core/exec.js';

/** An OpenSSH master connection that later ssh runs (rsync's) share: `sshExtra` is what they add. */
export interface SshMaster {
  sshExtra: string[];
  close(): Promise<void>;
}

/**
 * Opens one SSH connection to the guest that every rsync run shares (ControlMaster), so a copy
 * does not pay a new SSH handshake (about a second against a guest under TCG): what keeps
 * `box rsync-auto` within its 2 s, and saves one handshake per folder elsewhere. The master is box's own child in its own process group
 * (never ControlPersist, whose background master would outlive box); `close` ends it.
 */
export async function openSshMaster(info: SshInfo, signal?: AbortSignal): Promise<SshMaster> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'box-ssh-'));
  const socket = path.join(dir, 'master.sock');
  const base = [...batchSshOptions(info), '-S', socket];
  const target = `${info.username}@${info.host}`;
  const execa = await loadExeca();
  const {child: master} = await spawnInOwnGroup('ssh', [...base, '-M', '-N', '-o', 'ControlPersist=no', '-o', 'ServerAliveInterval=15', target], {reject: false, stdin: 'ignore'});
  let stderr = '';
  master.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const close = async (): Promise<void> => {
    await execa('ssh', [...base, '-O', 'exit', target], {reject: false, timeout: 5000, stdin: 'ignore'});
    master.kill('SIGTERM');
    await master;
    await rm(dir, {recursive: true, force: true});
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if ((await execa('ssh', [...base, '-O', 'check', target], {reject: false, timeout: 5000, stdin: 'ignore'})).exitCode === 0) {
      return {sshExtra: ['-o', `ControlPath=${socket}`], close};
    }
    if (master.exitCode !== null || signal?.aborted || Date.now() > deadline) {
      await close();
      signal?.throwIfAborted();
      throw new BoxError('ERR_SSH_MASTER', `Could not open an SSH connection to ${target} port ${info.port} for rsync: ${stderr.trim() || 'it did not come up within 60 s'}`);
    }
    await sleep(100);
  }
}
