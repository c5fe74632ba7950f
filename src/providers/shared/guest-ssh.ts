import {execa} from 'execa';
import type {SshInfo} from '../provider.js';
import {sshArgs} from '../../services/lifecycle/openssh.js';
import {ensureMachineKey, insecureKeyPath} from '../../communicators/keys.js';
import {replaceInsecureKey} from '../../communicators/ssh/replace-insecure-key.js';
import {createCommunicator} from '../../services/lifecycle/communicator.js';

/**
 * First boot: log in with Vagrant's insecure key (or the key packed in the box) and swap it for
 * this machine's own key (as Vagrant does), so the well-known key no longer opens the guest. The new key is proven to log
 * in before the old one is removed.
 */
export async function insertMachineKey(options: {dir: string; port: number; username: string; timeoutMs: number; signal: AbortSignal; firstLoginKey?: string}): Promise<void> {
  const key = await ensureMachineKey(options.dir);
  // A box made by `vagrant package` packs the key its guest accepts; it is replaced the same way.
  const comm = await createCommunicator({host: '127.0.0.1', port: options.port, username: options.username, privateKeyPath: options.firstLoginKey ?? await insecureKeyPath()});
  try {
    await comm.waitForReady(options.timeoutMs, options.signal);
    await replaceInsecureKey(comm, key, {signal: options.signal});
  } finally {
    await comm.close();
  }
}

/** Best-effort `poweroff` through the system's ssh; the connection drops as the guest stops. */
export async function sshPoweroff(info: SshInfo, timeoutMs: number): Promise<void> {
  await execa('ssh', sshArgs(info, {command: 'sudo -n poweroff || poweroff', batch: true, connectTimeout: 5}), {reject: false, timeout: timeoutMs, stdin: 'ignore'});
}
