import {readFile} from 'node:fs/promises';
import {constants} from 'node:os';
import {StringDecoder} from 'node:string_decoder';
import {setTimeout as sleep} from 'node:timers/promises';
import type {ClientChannel, SFTPWrapper} from 'ssh2';
import {BoxError, InterruptedError, errorMessage, isAbortError, throwIfAborted} from '../../core/errors.js';
import {lazyRequire} from '../../core/lazy-require.js';
import type {Communicator, ExecOptions, UploadOptions} from '../communicator.js';
import {buildRemoteCommand} from './remote-command.js';
import {sftpUpload} from './sftp-upload.js';
import {readSshBanner} from './wait-for-banner.js';

const ssh2 = lazyRequire<typeof import('ssh2')>('ssh2');
type SshClient = InstanceType<typeof import('ssh2')['Client']>;

export interface SshTarget {
  host: string;
  port: number;
  username: string;
  /** Private key text (OpenSSH or PEM). */
  privateKey: string | Buffer;
}

export interface SshCommunicatorOptions extends SshTarget {
  /** How the key is named in messages (its file, "Vagrant's insecure key"...). */
  keyName?: string;
  /**
   * waitForReady keeps trying a key the server rejected, until its timeout. Only for a server
   * that answers before the right accounts exist (an OS installer's own sshd, before it reboots
   * into the installed system). Default: a rejected key fails at once, as it will be rejected
   * again: the guest's authorized_keys does not change while box waits.
   */
  retryRejectedKey?: boolean;
  /** Longest wait for one SSH handshake + authentication (default 20 s). */
  connectTimeoutMs?: number;
  /** Keepalive period; the connection is dropped after `keepaliveCountMax` missed answers. */
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
}

/** Exit code reported for a command killed by a signal: 128 + signal number, as shells do. */
export function signalExitCode(signalName: string): number {
  const name = (signalName.startsWith('SIG') ? signalName : `SIG${signalName}`) as keyof typeof constants.signals;
  return 128 + (constants.signals[name] ?? 0);
}

/**
 * The SSH communicator (ssh2). One connection is opened on demand and reused by exec and
 * upload; when it drops (guest reboot, keepalive timeout) the next call reconnects.
 * Host keys are not checked: guests are local, freshly created machines whose keys nobody
 * could know in advance (Vagrant does the same with StrictHostKeyChecking=no).
 */
export class SshCommunicator implements Communicator {
  readonly options: Required<SshCommunicatorOptions>;
  private client?: SshClient;
  private connecting?: Promise<SshClient>;

  constructor(options: SshCommunicatorOptions) {
    this.options = {connectTimeoutMs: 20_000, keepaliveIntervalMs: 10_000, keepaliveCountMax: 3, keyName: 'the given key', retryRejectedKey: false, ...options};
  }

  /** Builds a communicator from a provider's SshInfo (reads the key file). */
  static async fromSshInfo(info: {host: string; port: number; username: string; privateKeyPath: string}, options: Partial<SshCommunicatorOptions> = {}): Promise<SshCommunicator> {
    let privateKey: Buffer;
    try {
      privateKey = await readFile(info.privateKeyPath);
    } catch (error) {
      throw new BoxError('ERR_SSH_KEY_INVALID', `Cannot read the SSH private key ${info.privateKeyPath}: ${errorMessage(error)}`, {
        hint: 'Check `ssh.private_key_path` in the Boxfile (paths are relative to the Boxfile).',
        cause: error,
      });
    }
    return new SshCommunicator({host: info.host, port: info.port, username: info.username, privateKey, keyName: info.privateKeyPath, ...options});
  }

  /** Same target, another key (to check a freshly installed key). */
  withKey(privateKey: string | Buffer, keyName = 'the new key'): SshCommunicator {
    return new SshCommunicator({...this.options, privateKey, keyName});
  }

  get connected(): boolean {
    return this.client !== undefined;
  }

  /**
   * Waits until the server sends its banner and accepts our key, retrying with backoff
   * (0.2 s doubling to 2 s) until `timeoutMs` has passed. A key the server rejects, or one that
   * does not parse, fails at once (ERR_SSH_AUTH, ERR_SSH_KEY_INVALID): retrying cannot help, and
   * it once kept `box up` busy for minutes (unless `retryRejectedKey`).
   */
  async waitForReady(timeoutMs: number, signal: AbortSignal): Promise<void> {
    const {host, port, username} = this.options;
    if (this.client) return;
    const deadline = Date.now() + timeoutMs;
    let delay = 200;
    let lastError: unknown;
    let attempts = 0;
    for (;;) {
      throwIfAborted(signal);
      const remaining = deadline - Date.now();
      if (remaining <= 0) break;
      attempts++;
      try {
        await readSshBanner(host, port, Math.min(remaining, 10_000), signal);
        await this.connect(Math.max(1000, Math.min(deadline - Date.now(), this.options.connectTimeoutMs)), signal);
        return;
      } catch (error) {
        if (signal.aborted || isAbortError(error)) throw new InterruptedError();
        if (error instanceof BoxError && error.code === 'ERR_SSH_KEY_INVALID') throw error;
        if (error instanceof BoxError && error.code === 'ERR_SSH_AUTH' && !this.options.retryRejectedKey) throw error;
        lastError = error;
      }

      const pause = Math.min(delay, deadline - Date.now());
      if (pause > 0) await sleep(pause, undefined, {signal}).catch(() => undefined);
      delay = Math.min(delay * 2, 2000);
    }

    throw new BoxError('ERR_SSH_TIMEOUT', `SSH on ${host}:${port} was not ready for ${username} after ${Math.round(timeoutMs / 1000)} s (${attempts} attempts; last: ${errorMessage(lastError ?? 'no attempt')})`, {
      hint: 'Check that the machine booted (its serial log) and that sshd runs and trusts the key; a slow machine may need a longer timeout.',
      details: {host, port, username, attempts, lastError: errorMessage(lastError ?? '')},
    });
  }

  /** Opens (or returns) the connection. */
  async connect(timeoutMs = this.options.connectTimeoutMs, signal?: AbortSignal): Promise<SshClient> {
    if (this.client) return this.client;
    this.connecting ??= this.open(timeoutMs, signal).finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private open(timeoutMs: number, signal?: AbortSignal): Promise<SshClient> {
    const {host, port, username, privateKey, keepaliveIntervalMs, keepaliveCountMax} = this.options;
    return new Promise((resolve, reject) => {
      const client = new (ssh2().Client)();
      let ready = false;
      const fail = (error: Error) => {
        signal?.removeEventListener('abort', onAbort);
        reject(error);
      };

      const onAbort = () => {
        client.end();
        fail(new InterruptedError());
      };

      signal?.addEventListener('abort', onAbort, {once: true});
      client.on('ready', () => {
        ready = true;
        signal?.removeEventListener('abort', onAbort);
        this.client = client;
        resolve(client);
      });
      // Errors after 'ready' (keepalive timeout, reset) are followed by 'close', which forgets the client.
      client.on('error', (error: Error & {level?: string}) => {
        if (ready) return;
        if (error.level === 'client-authentication') {
          fail(new BoxError('ERR_SSH_AUTH', `SSH to ${username}@${host}:${port}: the server rejected ${this.options.keyName} for user "${username}" (${error.message}).`, {
            hint: `Is it the right key and user? A box whose ~${username}/.ssh/authorized_keys does not hold Vagrant's insecure key needs \`ssh.private_key_path\` in the Boxfile (and \`ssh.username\` if its user is not "${username}").`,
            details: {host, port, username, key: this.options.keyName},
            cause: error,
          }));
          return;
        }
        fail(new BoxError('ERR_SSH_CONNECT', `SSH to ${username}@${host}:${port} failed: ${error.message}`, {
          hint: 'Check that the machine is running (`box status`) and that its SSH port is reachable.',
          cause: error,
        }));
      });
      client.on('close', () => {
        if (this.client === client) this.client = undefined;
        if (!ready) fail(new BoxError('ERR_SSH_CONNECT', `SSH to ${username}@${host}:${port}: connection closed during the handshake`));
      });
      try {
        client.connect({
          host, port, username, privateKey,
          readyTimeout: timeoutMs,
          keepaliveInterval: keepaliveIntervalMs,
          keepaliveCountMax,
        });
      } catch (error) {
        // ssh2 throws here for a key it cannot parse: no server can change that.
        signal?.removeEventListener('abort', onAbort);
        reject(new BoxError('ERR_SSH_KEY_INVALID', `Cannot use ${this.options.keyName} as an SSH private key: ${errorMessage(error)}`, {
          hint: 'Use an OpenSSH or PEM private key without a passphrase (`ssh.private_key_path` in the Boxfile).',
          cause: error,
        }));
      }
    });
  }

  async exec(command: string, options: ExecOptions = {}): Promise<number> {
    const {signal, onOutput, timeoutMs} = options;
    throwIfAborted(signal);
    const remoteCommand = buildRemoteCommand(command, options);
    const client = await this.connect(undefined, signal);
    const stream = await new Promise<ClientChannel>((resolve, reject) => {
      client.exec(remoteCommand, (error, channel) => {
        if (error) reject(new BoxError('ERR_SSH_EXEC', `Cannot start ${JSON.stringify(command)} over SSH: ${error.message}`, {cause: error}));
        else resolve(channel);
      });
    });

    return new Promise<number>((resolve, reject) => {
      const decoders = {stdout: new StringDecoder('utf8'), stderr: new StringDecoder('utf8')};
      let exit: {code?: number | null; signal?: string} | undefined;
      let failure: Error | undefined;
      let settled = false;
      const timers: NodeJS.Timeout[] = [];
      const emit = (name: 'stdout' | 'stderr', text: string) => {
        if (text && onOutput) onOutput(name, text);
      };

      const settle = () => {
        if (settled) return;
        settled = true;
        for (const timer of timers) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        emit('stdout', decoders.stdout.end());
        emit('stderr', decoders.stderr.end());
        if (failure) reject(failure);
        else if (typeof exit?.code === 'number') resolve(exit.code);
        else if (exit?.signal) resolve(signalExitCode(exit.signal));
        else reject(new BoxError('ERR_SSH_DISCONNECTED', `The SSH connection closed before ${JSON.stringify(command)} reported an exit status`, {
          hint: 'The machine may have rebooted or lost its network; run the command again.',
        }));
      };

      // Stop the remote command: TERM first (sudo relays it to its child), then KILL and close
      // the channel. sshd honours signal requests only for sessions under privilege separation
      // (not for root logins), so we settle after 1.5 s whether or not the server confirms.
      const stop = (error: Error) => {
        if (failure || settled) return;
        failure = error;
        trySignal(stream, 'TERM');
        timers.push(setTimeout(() => {
          trySignal(stream, 'KILL');
          stream.close();
        }, 500), setTimeout(settle, 1500));
      };

      const onAbort = () => stop(new InterruptedError());
      signal?.addEventListener('abort', onAbort, {once: true});
      // An abort while the channel was opening has fired already: the command must not run on.
      if (signal?.aborted) onAbort();
      if (timeoutMs) {
        timers.push(setTimeout(() => stop(new BoxError('ERR_SSH_COMMAND_TIMEOUT', `${JSON.stringify(command)} did not finish within ${Math.round(timeoutMs / 1000)} s`, {
          hint: 'It was stopped; raise the timeout if it is expected to take longer.',
        })), timeoutMs));
      }

      stream.on('data', (chunk: Buffer) => emit('stdout', decoders.stdout.write(chunk)));
      stream.stderr.on('data', (chunk: Buffer) => emit('stderr', decoders.stderr.write(chunk)));
      stream.on('exit', (code: number | null, signalName?: string) => {
        exit = {code, signal: signalName};
      });
      stream.on('close', settle);
      // No stdin for remote commands: a command reading it sees EOF instead of hanging.
      stream.end();
    });
  }

  /** Uploads a file or a folder (recursively, modes preserved, parents created) over SFTP. */
  async upload(local: string, remote: string, options: UploadOptions = {}): Promise<void> {
    throwIfAborted(options.signal);
    const sftp = await this.sftp();
    try {
      await sftpUpload(sftp, local, remote, options.signal);
    } finally {
      sftp.end();
    }
  }

  /** An SFTP session on the shared connection; the caller ends it. */
  async sftp(): Promise<SFTPWrapper> {
    const client = await this.connect();
    return new Promise((resolve, reject) => {
      client.sftp((error, sftp) => {
        if (error) reject(new BoxError('ERR_SSH_SFTP', `Cannot open SFTP on ${this.options.host}:${this.options.port}: ${error.message}`, {
          hint: 'The guest\'s sshd needs the sftp subsystem (Subsystem sftp ... in sshd_config).',
          cause: error,
        }));
        else resolve(sftp);
      });
    });
  }

  async close(): Promise<void> {
    const client = this.client ?? (await this.connecting?.catch(() => undefined));
    if (!client) return;
    this.client = undefined;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        client.destroy();
        resolve();
      }, 2000);
      client.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      client.end();
    });
  }
}

/**
 * Sends an SSH "signal" request (OpenSSH >= 7.9 delivers it to the command's process group).
 * ssh2's Channel.signal() silently does nothing once stdin is ended (state 'eof'), and we end
 * stdin right away, so this goes one level down to the protocol object while the channel is open.
 */
function trySignal(stream: ClientChannel, name: string): void {
  const channel = stream as unknown as {
    outgoing?: {id: number; state: string};
    _client?: {_protocol?: {signal(id: number, name: string): void}};
  };
  try {
    const state = channel.outgoing?.state;
    if ((state === 'open' || state === 'eof') && channel._client?._protocol) channel._client._protocol.signal(channel.outgoing!.id, name);
    else stream.signal(name);
  } catch {
    // The channel is already closing; nothing left to stop.
  }
}
