import {setTimeout as sleep} from 'node:timers/promises';
import {readSshBanner} from '../../communicators/ssh/wait-for-banner.js';
import {BoxError, InterruptedError} from '../../core/errors.js';
import {tailFile} from '../../core/tail-file.js';
import {saysSshdStarted} from './boot-phases.js';
import {SerialWatch} from './serial-watch.js';

export interface WaitForBannerOptions {
  port: number;
  host?: string;
  timeoutMs: number;
  signal: AbortSignal;
  /** The guest's serial console log, quoted when the wait fails. */
  serialLog: string;
  /** The serial console box already follows (QEMU's boot phases); without it the wait follows serialLog itself. */
  serial?: SerialWatch;
  /** Checked between attempts: an error here (the VM died) ends the wait at once. */
  vmGone?: () => Promise<BoxError | undefined>;
}

/** The pause between attempts, and the longest one attempt waits for the banner. */
const ATTEMPT_EVERY_MS = 250;
const ATTEMPT_TIMEOUT_MS = 3000;

/**
 * Waits for the guest's `SSH-2.0-` banner on a forwarded port: sharper than looping an ssh
 * client. NAT port forwarding (QEMU user networking, VirtualBox NAT) accepts the TCP connection
 * before the guest listens and then closes it, so only the banner counts. On timeout the error
 * points at the serial log with its last lines. Resolves with the milliseconds waited.
 *
 * One attempt at a time, plus one fresh attempt the moment the console says sshd started.
 * Before the guest's network is up, QEMU's user-mode NAT holds a forwarded connection and sends
 * its SYN to the guest again only seconds later, so the attempt in flight when sshd starts can
 * sit out up to 3 s; the fresh one gets the banner at once. Attempts are not started more often
 * than that: every connection the NAT holds is delivered to the guest's sshd later, even after
 * box closed it, and a burst of them (one attempt every 250 ms did this: ~30 per boot) makes
 * sshd drop the real connections that follow (MaxStartups).
 */
export async function waitForGuestSsh(options: WaitForBannerOptions): Promise<number> {
  const started = Date.now();
  const deadline = started + options.timeoutMs;
  const host = options.host ?? '127.0.0.1';
  const serial = options.serial ?? new SerialWatch(options.serialLog).start();
  const done = new AbortController();
  const attempts = AbortSignal.any([options.signal, done.signal]);
  let open = 0;
  let answered!: () => void;
  const banner = new Promise<'banner'>((resolve) => { answered = () => resolve('banner'); });
  const attempt = () => {
    open++;
    readSshBanner(host, options.port, Math.min(ATTEMPT_TIMEOUT_MS, Math.max(100, deadline - Date.now())), attempts)
      .then(answered, () => undefined) // not yet: refused, closed by the NAT before the guest listens, or silent
      .finally(() => { open--; });
  };
  let linesRead = 0;
  let sshdStarted = false;
  try {
    while (Date.now() < deadline) {
      if (options.signal.aborted) throw new InterruptedError();
      const gone = await options.vmGone?.();
      if (gone) throw gone;
      if (!sshdStarted && serial.lines.slice(linesRead).some((line) => saysSshdStarted(line.text))) {
        sshdStarted = true;
        attempt();
      } else if (open === 0) {
        attempt();
      }
      linesRead = serial.lines.length;
      const next = await Promise.race([banner, sleep(ATTEMPT_EVERY_MS, 'tick', {signal: attempts}).catch(() => 'aborted' as const)]);
      if (next === 'banner') return Date.now() - started;
    }
  } finally {
    done.abort();
    if (!options.serial) await serial.stop();
  }
  if (options.signal.aborted) throw new InterruptedError();
  const tail = await tailFile(options.serialLog);
  throw new BoxError('ERR_SSH_TIMEOUT', `The guest did not answer SSH on ${host}:${options.port} within ${Math.round(options.timeoutMs / 1000)} s. Last lines of ${options.serialLog}:\n${tail || '(empty: the guest printed nothing on its serial console)'}`, {
    hint: 'Raise `ssh.timeout` in the Boxfile if the guest is just slow (software emulation), or read the serial log to see where boot stopped.',
    details: {serialLog: options.serialLog},
  });
}
