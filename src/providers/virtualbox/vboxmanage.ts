import {BoxError, InterruptedError} from '../../core/errors.js';
import {spawnInOwnGroup} from '../../core/exec.js';
import {vboxError} from './errors.js';
import {parseVmInfo, type VmInfo} from './machine-readable.js';

/**
 * The one wrapper around the VBoxManage CLI (Packer's and Vagrant's drivers work the same way):
 * LANG=C so messages can be matched, a failure becomes a typed error quoting VirtualBox, and
 * a "machine is locked" answer (VirtualBox releases a session a moment after power-off) is
 * retried a few times.
 */
export class VBoxManage {
  constructor(readonly binary: string = locateVBoxManage()) {}

  async run(args: readonly string[], options: {signal?: AbortSignal; timeoutMs?: number; retryLocked?: boolean} = {}): Promise<string> {
    const attempts = options.retryLocked ? 5 : 1;
    for (let attempt = 1; ; attempt++) {
      // Its own process group: a Ctrl-C in the terminal is box's to act on (VBoxManage cancels
      // an import on SIGINT and exits with an error box would report instead of "Interrupted").
      const {child} = await spawnInOwnGroup(this.binary, args, {
        env: {LANG: 'C', LC_ALL: 'C'},
        reject: false,
        stdin: 'ignore',
        cancelSignal: options.signal,
        timeout: options.timeoutMs ?? 10 * 60_000,
      });
      const result = await child;
      if (result.isCanceled || (result.failed && options.signal?.aborted)) throw new InterruptedError(`Interrupted while running VBoxManage ${args[0]}`);
      if ((result as {code?: string}).code === 'ENOENT' || (result.failed && result.exitCode === undefined && /ENOENT/.test(String(result.message)))) {
        throw missingVBoxManage(this.binary);
      }
      if (!result.failed) return String(result.stdout);
      const error = result.timedOut
        ? new BoxError('ERR_VBOXMANAGE', `VBoxManage ${args[0]} did not finish within ${Math.round((options.timeoutMs ?? 600_000) / 1000)} s.`, {hint: 'VirtualBox may be stuck; look at the VM in the VirtualBox GUI or `VBoxManage list runningvms`.'})
        : vboxError(args, result.exitCode, String(result.stderr));
      if (error.code !== 'ERR_VBOX_LOCKED' || attempt >= attempts) throw error;
      await new Promise((r) => setTimeout(r, 500 * attempt));
    }
  }

  /** `--version` output, e.g. "7.0.14r161095". */
  async version(): Promise<string> {
    return (await this.run(['--version'], {timeoutMs: 15_000})).trim().split('\n').at(-1)!.trim();
  }

  /** The VM's facts, or undefined when VirtualBox knows no VM of that name or UUID. */
  async vmInfo(nameOrUuid: string, signal?: AbortSignal): Promise<VmInfo | undefined> {
    try {
      return parseVmInfo(await this.run(['showvminfo', nameOrUuid, '--machinereadable'], {signal, timeoutMs: 60_000}));
    } catch (error) {
      if (error instanceof BoxError && error.code === 'ERR_VBOX_VM_NOT_FOUND') return undefined;
      throw error;
    }
  }
}

/** `VBOX_MANAGE` (a path) when set, else `VBoxManage` from PATH. */
export function locateVBoxManage(env: NodeJS.ProcessEnv = process.env): string {
  return env.VBOX_MANAGE?.trim() || 'VBoxManage';
}

export function missingVBoxManage(binary: string): BoxError {
  return new BoxError('ERR_VBOX_MISSING', `${binary} is not installed or not on PATH.`, {
    hint: 'Install VirtualBox 7 (virtualbox.org or your distribution), or point VBOX_MANAGE at VBoxManage; `box doctor` shows what box finds. Without VirtualBox use `--target qemu`.',
  });
}
