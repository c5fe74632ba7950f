import {BoxError} from '../../core/errors.js';
import {waitForGuestSsh} from '../shared/wait-for-ssh.js';
import {tailFile} from '../../core/tail-file.js';
import {pidAlive} from '../../core/processes.js';
import type {SerialWatch} from '../shared/serial-watch.js';

export interface WaitForSshOptions {
  port: number;
  host?: string;
  timeoutMs: number;
  signal: AbortSignal;
  /** Checked between attempts: if QEMU died, stop waiting and say so. */
  pid?: number;
  serialLog: string;
  /** The serial console the provider follows for the boot phases: read for sshd's start. */
  serial?: SerialWatch;
}

/** The shared banner wait (../shared/wait-for-ssh.ts), failing fast when QEMU exits. */
export async function waitForSshBanner(options: WaitForSshOptions): Promise<number> {
  const {pid, serialLog} = options;
  return waitForGuestSsh({
    ...options,
    vmGone: pid === undefined ? undefined : async () => {
      if (pidAlive(pid)) return undefined;
      const tail = await tailFile(serialLog);
      return new BoxError('ERR_QEMU_EXITED', `QEMU exited while the guest was booting.${tail ? ` Last lines of ${serialLog}:\n${tail}` : ` ${serialLog} is empty.`}`, {
        hint: 'Check the box image (`qemu-img check`), and the machine\'s memory/cpus in the Boxfile.',
        details: {serialLog},
      });
    },
  });
}
