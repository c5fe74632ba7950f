import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {appendFile, mkdtemp, rm, writeFile} from 'node:fs/promises';
import {waitForGuestSsh} from '../../../src/providers/shared/wait-for-ssh.js';
import {BoxError} from '../../../src/core/errors.js';

/**
 * A forwarded SSH port as QEMU's user-mode NAT shows it before and after the guest's network is
 * up: the first `held` connections are accepted and never answered (the NAT's SYN to the guest
 * went unanswered), later ones get the banner. Counts how many were open at once.
 */
async function forwardedPort(held: number) {
  const sockets = new Set<net.Socket>();
  let seen = 0;
  let mostOpen = 0;
  const server = net.createServer((socket) => {
    seen++;
    sockets.add(socket);
    mostOpen = Math.max(mostOpen, sockets.size);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    if (seen > held) socket.end('SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    stats: () => ({seen, mostOpen, open: sockets.size}),
    close: () => new Promise<void>((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()); }),
  };
}

describe('waitForGuestSsh', () => {
  test('the console saying sshd started gets a fresh attempt while the NAT still holds the last one; the held one is closed after', async () => {
    const fwd = await forwardedPort(1);
    const folder = await mkdtemp(path.join(os.tmpdir(), 'box-wait-ssh-'));
    const serialLog = path.join(folder, 'serial.log');
    await writeFile(serialLog, 'Linux version 6.1.0\n');
    try {
      const waiting = waitForGuestSsh({port: fwd.port, timeoutMs: 20_000, signal: new AbortController().signal, serialLog});
      while (fwd.stats().seen === 0) await new Promise((r) => setTimeout(r, 20));
      // As systemd writes it to a serial console: coloured, with a carriage return.
      await appendFile(serialLog, '[\x1b[0;32m  OK  \x1b[0m] Started \x1b[0;1;39mssh.service\x1b[0m - OpenBSD Secure Shell server.\r\n');
      await waiting;
      const {seen, mostOpen} = fwd.stats();
      assert.equal(seen, 2, 'the held attempt, then the fresh one that answered');
      assert.equal(mostOpen, 2, 'the fresh attempt was made while the held one was open');
      const deadline = Date.now() + 2000;
      while (fwd.stats().open > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.equal(fwd.stats().open, 0);
    } finally {
      await fwd.close();
      await rm(folder, {recursive: true, force: true});
    }
  });

  test('otherwise one attempt at a time: every connection the NAT holds reaches the guest\'s sshd later, so they are few', async () => {
    const fwd = await forwardedPort(Number.POSITIVE_INFINITY);
    try {
      await assert.rejects(waitForGuestSsh({port: fwd.port, timeoutMs: 4000, signal: new AbortController().signal, serialLog: '/nonexistent'}),
        (error: unknown) => error instanceof BoxError && error.code === 'ERR_SSH_TIMEOUT');
      assert.equal(fwd.stats().mostOpen, 1);
      assert.equal(fwd.stats().seen, 2, 'one held for 3 s, then the next');
    } finally {
      await fwd.close();
    }
  });

  test('a VM that is gone ends the wait with its error; Ctrl-C with an interruption', async () => {
    const fwd = await forwardedPort(Number.POSITIVE_INFINITY);
    try {
      const gone = new BoxError('ERR_QEMU_EXITED', 'QEMU exited');
      let checks = 0;
      await assert.rejects(waitForGuestSsh({port: fwd.port, timeoutMs: 20_000, signal: new AbortController().signal, serialLog: '/nonexistent', vmGone: async () => (++checks === 3 ? gone : undefined)}), gone);
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 300);
      await assert.rejects(waitForGuestSsh({port: fwd.port, timeoutMs: 20_000, signal: controller.signal, serialLog: '/nonexistent'}), (error: unknown) => error instanceof BoxError && error.code === 'ERR_INTERRUPTED');
    } finally {
      await fwd.close();
    }
  });
});
