import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
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
  test('a connection the NAT holds does not hold up the wait: a fresh attempt gets the banner while it is still open', async () => {
    const fwd = await forwardedPort(2);
    try {
      await waitForGuestSsh({port: fwd.port, timeoutMs: 20_000, signal: new AbortController().signal, serialLog: '/nonexistent'});
      const {seen, mostOpen} = fwd.stats();
      assert.equal(seen, 3, 'two held attempts, then the one that answered');
      assert.equal(mostOpen, 3, 'the answering attempt was made while both held ones were open');
      // The held attempts are closed once the banner is in.
      const deadline = Date.now() + 2000;
      while (fwd.stats().open > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.equal(fwd.stats().open, 0);
    } finally {
      await fwd.close();
    }
  });

  test('at most six attempts are open at once, well under sshd\'s MaxStartups', async () => {
    const fwd = await forwardedPort(Number.POSITIVE_INFINITY);
    try {
      await assert.rejects(waitForGuestSsh({port: fwd.port, timeoutMs: 2500, signal: new AbortController().signal, serialLog: '/nonexistent'}),
        (error: unknown) => error instanceof BoxError && error.code === 'ERR_SSH_TIMEOUT');
      assert.equal(fwd.stats().mostOpen, 6);
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
