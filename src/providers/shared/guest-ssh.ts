import type {SshInfo} from '../provider.js';
import type {Communicator} from '../../communicators/communicator.js';
import {INSECURE_PUBLIC_KEY} from '../../communicators/insecure-key.js';
import {readFile} from 'node:fs/promises';
import {ensureMachineKey, insecureKeyPath, publicKeyOf} from '../../communicators/keys.js';
import {replaceInsecureKey} from '../../communicators/ssh/replace-insecure-key.js';
import {SshCommunicator} from '../../communicators/ssh/ssh-communicator.js';
import {BoxError} from '../../core/errors.js';
import {sshArgs} from '../../communicators/ssh/openssh.js';
import {lockPasswordLoginsScript, setHostnameScript} from './guest-scripts.js';
import {loadExeca} from '../../core/exec.js';

export interface InsertKeyOptions {
  dir: string;
  port: number;
  username: string;
  timeoutMs: number;
  signal: AbortSignal;
  /** Set in the same command as the key swap (saves a round trip at first boot). */
  hostname?: string;
  /** The key the box's guest accepts at first boot when it is not Vagrant's insecure key (packed by `vagrant package`). */
  firstLoginKey?: string;
}

/**

 * Logs in with Vagrant's insecure key (or the key packed in a `vagrant package` box) and swaps
 * it for this machine's own key (as Vagrant does), so the well-known key no longer opens the
 * guest, and ends password logins in the same command (the well-known password would open it
 * just as well). The new key is proven to log
 * in before the old one is removed.
 *
 * Runs on every `up` until the swap is recorded, so it must finish whatever an interrupted run
 * left: when the insecure key is already refused but the machine key works, the swap happened
 * and only the rest (the insecure key's line, the password lock) is done again.
 */
export async function insertMachineKey(options: InsertKeyOptions): Promise<{finishedEarlierSwap: boolean}> {
  const key = await ensureMachineKey(options.dir);
  const target = {host: '127.0.0.1', port: options.port, username: options.username};
  const thenRun = {
    script: [lockPasswordLoginsScript(), ...(options.hostname ? [setHostnameScript(options.hostname)] : [])].join(' &&\n'),
    what: options.hostname ? `lock password logins and set the host name ${options.hostname}` : 'lock password logins',
  };
  const firstKey = options.firstLoginKey ?? await insecureKeyPath();
  const firstKeyName = options.firstLoginKey ? `the box's packed key ${options.firstLoginKey}` : 'Vagrant\'s insecure key';
  const insecure = await SshCommunicator.fromSshInfo({...target, privateKeyPath: firstKey}, {keyName: firstKeyName});
  try {
    await insecure.waitForReady(options.timeoutMs, options.signal);
    await replaceInsecureKey(insecure, key, {thenRun, signal: options.signal});
    return {finishedEarlierSwap: false};
  } catch (error) {
    if (!(error instanceof BoxError && error.code === 'ERR_SSH_AUTH')) throw error;
  } finally {
    await insecure.close();
  }
  // The insecure key is refused: an earlier up swapped the keys and was stopped before it could
  // record it. The machine key must work now; it finishes the job.
  const own = await SshCommunicator.fromSshInfo({...target, privateKeyPath: key.privateKeyPath}, {keyName: `the machine key ${key.privateKeyPath}`});
  try {
    try {
      await own.waitForReady(Math.min(options.timeoutMs, 30_000), options.signal);
    } catch (error) {
      if (!(error instanceof BoxError && error.code === 'ERR_SSH_AUTH')) throw error;
      throw new BoxError('ERR_SSH_AUTH', `SSH on 127.0.0.1:${options.port} accepts neither ${firstKeyName} nor this machine's key ${key.privateKeyPath} for user "${options.username}".`, {
        hint: 'A box that does not trust Vagrant\'s insecure key needs `ssh.private_key_path` in the Boxfile (and `ssh.username` if its user is not vagrant).',
        details: {port: options.port, username: options.username},
      });
    }
    const oldPublicKey = options.firstLoginKey ? publicKeyOf(await readFile(options.firstLoginKey, 'utf8')) : INSECURE_PUBLIC_KEY;
    await replaceInsecureKey(own, key, {oldPublicKey, thenRun, signal: options.signal});
    return {finishedEarlierSwap: true};
  } finally {
    await own.close();
  }
}

/** Sets the guest's host name over an open connection (targets without a key swap, or a changed name). */
export async function setGuestHostname(comm: Communicator, hostname: string, signal: AbortSignal): Promise<void> {
  let output = '';
  const code = await comm.exec(setHostnameScript(hostname), {signal, onOutput: (_s, data) => (output += data)});
  if (code !== 0) {
    throw new BoxError('ERR_GUEST_HOSTNAME', `Could not set the host name ${hostname} in the guest (exit code ${code}): ${output.trim().slice(-500)}`, {
      hint: 'The SSH user needs passwordless sudo (Vagrant\'s base box rules); or drop `hostname` from the Boxfile.',
    });
  }
}

/** Best-effort `poweroff` through the system's ssh; the connection drops as the guest stops. */
export async function sshPoweroff(info: SshInfo, timeoutMs: number): Promise<void> {
  const execa = await loadExeca();
  await execa('ssh', sshArgs(info, {command: 'sudo -n poweroff || poweroff', batch: true, connectTimeout: 5}), {reject: false, timeout: timeoutMs, stdin: 'ignore'});
}
