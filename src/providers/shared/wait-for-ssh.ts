import {setTimeout as sleep} from 'node:timers/promises';
import {readSshBanner} from '../../communicators/ssh/wait-for-banner.js';
import {BoxError, InterruptedError} from '../../core/errors.js';
import {tailFile} from '../../core/tail-file.js';

export interface WaitForBannerOptions {
  port: number;
  host?: string;
  timeoutMs: number;
  signal: AbortSignal;
  /** The guest's serial console log, quoted when the wait fails. */
  serialLog: string;
  /** Checked between attempts: an error here (the VM died) ends the wait at once. */
  vmGone?: () => Promise<BoxError | undefined>;
}

/** A new attempt this often; at most this many open at once (well under sshd's MaxStartups of 10). */
const ATTEMPT_EVERY_MS = 250;
const MAX_OPEN_ATTEMPTS = 6;

/**
 * Waits for the guest's `SSH-2.0-` banner on a forwarded port: sharper than looping an ssh
 * client. NAT port forwarding (QEMU user networking, VirtualBox NAT) accepts the TCP connection
 * before the guest listens and then closes it, so only the banner counts. On timeout the error
 * points at the serial log with its last lines. Resolves with the milliseconds waited.
 *
 * Attempts overlap: one starts every 250 ms while earlier ones still wait. Before the guest's
 * network is up, QEMU's user-mode NAT holds a forwarded connection open and sends its SYN to the
 * guest again only seconds later, so a single attempt at a time could sit out most of that
 * delay after sshd listens; a fresh attempt gets the banner at once.
 */
export async function waitForGuestSsh(options: WaitForBannerOptions): Promise<number> {
  const started = Date.now();
  const deadline = started + options.timeoutMs;
  const host = options.host ?? '127.0.0.1';
  const done = new AbortController();
  const attempts = AbortSignal.any([options.signal, done.signal]);
  let open = 0;
  let answered!: () => void;
  const banner = new Promise<'banner'>((resolve) => { answered = () => resolve('banner'); });
  try {
    while (Date.now() < deadline) {
      if (options.signal.aborted) throw new InterruptedError();
      const gone = await options.vmGone?.();
      if (gone) throw gone;
      if (open < MAX_OPEN_ATTEMPTS) {
        open++;
        readSshBanner(host, options.port, Math.min(3000, Math.max(100, deadline - Date.now())), attempts)
          .then(answered, () => undefined) // not yet: refused, closed by the NAT before the guest listens, or silent
          .finally(() => { open--; });
      }
      const next = await Promise.race([banner, sleep(ATTEMPT_EVERY_MS, 'tick', {signal: attempts}).catch(() => 'aborted' as const)]);
      if (next === 'banner') return Date.now() - started;
    }
  } finally {
    done.abort();
  }
  if (options.signal.aborted) throw new InterruptedError();
  const tail = await tailFile(options.serialLog);
  throw new BoxError('ERR_SSH_TIMEOUT', `The guest did not answer SSH on ${host}:${options.port} within ${Math.round(options.timeoutMs / 1000)} s. Last lines of ${options.serialLog}:\n${tail || '(empty: the guest printed nothing on its serial console)'}`, {
    hint: 'Raise `ssh.timeout` in the Boxfile if the guest is just slow (software emulation), or read the serial log to see where boot stopped.',
    details: {serialLog: options.serialLog},
  });
}
