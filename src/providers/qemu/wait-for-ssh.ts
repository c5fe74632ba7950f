import net from 'node:net';
import {BoxError, InterruptedError} from '../../core/errors.js';
import {pidAlive, tailFile} from './process.js';

export interface WaitForSshOptions {
  port: number;
  host?: string;
  timeoutMs: number;
  signal: AbortSignal;
  /** Checked between attempts: if QEMU died, stop waiting and say so. */
  pid?: number;
  serialLog: string;
}

/**
 * Waits for the guest's `SSH-2.0-` banner on the forwarded port: sharper than looping an ssh
 * client. QEMU's user networking accepts the TCP connection even before the guest listens (and
 * then closes it), so only the banner counts. Fails fast when QEMU exits, and on timeout
 * points at the serial log with its last lines.
 */
export async function waitForSshBanner(options: WaitForSshOptions): Promise<number> {
  const started = Date.now();
  const deadline = started + options.timeoutMs;
  while (Date.now() < deadline) {
    if (options.signal.aborted) throw new InterruptedError();
    if (options.pid !== undefined && !pidAlive(options.pid)) {
      const tail = await tailFile(options.serialLog);
      throw new BoxError('ERR_QEMU_EXITED', `QEMU exited while the guest was booting.${tail ? ` Last lines of ${options.serialLog}:\n${tail}` : ` ${options.serialLog} is empty.`}`, {
        hint: 'Check the box image (`qemu-img check`), and the machine\'s memory/cpus in the Boxfile.',
        details: {serialLog: options.serialLog},
      });
    }
    if (await bannerOnce(options.host ?? '127.0.0.1', options.port, Math.min(3000, Math.max(100, deadline - Date.now())))) return Date.now() - started;
    await new Promise((r) => setTimeout(r, 250));
  }
  const tail = await tailFile(options.serialLog);
  throw new BoxError('ERR_SSH_TIMEOUT', `The guest did not answer SSH on 127.0.0.1:${options.port} within ${Math.round(options.timeoutMs / 1000)} s. Last lines of ${options.serialLog}:\n${tail || '(empty: the guest printed nothing on its serial console)'}`, {
    hint: 'Raise `ssh.timeout` in the Boxfile if the guest is just slow (software emulation), or read the serial log to see where boot stopped.',
    details: {serialLog: options.serialLog},
  });
}

function bannerOnce(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.createConnection({host, port});
    let data = '';
    const done = (ok: boolean) => { clearTimeout(timer); socket.destroy(); resolve(ok); };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      data += chunk;
      if (data.includes('SSH-')) done(true);
    });
    socket.on('error', () => done(false));
    socket.on('close', () => done(data.includes('SSH-')));
  });
}
