import assert from 'node:assert/strict';
import {mkdtemp, rm} from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {execa} from 'execa';
import {QmpClient, qmpOnce} from '../../../src/providers/qemu/qmp.js';
import {pidAlive, waitForExit} from '../../../src/core/processes.js';
import {readPidFile} from '../../../src/providers/qemu/process.js';

/** A fake QMP server speaking the real protocol's framing: greeting, capabilities, events. */
function fakeQmp(socketPath: string, handler: (cmd: {execute: string; arguments?: unknown}, send: (o: unknown) => void) => void): Promise<net.Server> {
  const server = net.createServer((conn) => {
    const send = (o: unknown) => conn.write(JSON.stringify(o) + '\r\n');
    send({QMP: {version: {qemu: {major: 7, minor: 2, micro: 0}}, capabilities: []}});
    let buffer = '';
    conn.on('data', (chunk) => {
      buffer += chunk.toString();
      let i: number;
      while ((i = buffer.indexOf('\n')) !== -1) {
        const cmd = JSON.parse(buffer.slice(0, i));
        buffer = buffer.slice(i + 1);
        if (cmd.execute === 'qmp_capabilities') send({return: {}});
        else handler(cmd, send);
      }
    });
  });
  return new Promise((resolve) => server.listen(socketPath, () => resolve(server)));
}

describe('QMP client', () => {
  let dir: string;
  before(async () => { dir = await mkdtemp(path.join(os.tmpdir(), 'box-qmp-')); });
  after(() => rm(dir, {recursive: true, force: true}));

  test('skips asynchronous events and returns the command result', async () => {
    const sock = path.join(dir, 'a.sock');
    const server = await fakeQmp(sock, (cmd, send) => {
      send({event: 'RTC_CHANGE', data: {offset: 0}, timestamp: {seconds: 1, microseconds: 0}});
      send({return: {status: 'running', running: true, echo: cmd.execute}});
    });
    try {
      const result = await qmpOnce<{status: string; echo: string}>(sock, 'query-status');
      assert.equal(result.status, 'running');
      assert.equal(result.echo, 'query-status');
    } finally {
      server.close();
    }
  });

  test('a QMP error becomes ERR_QMP quoting QEMU\'s description', async () => {
    const sock = path.join(dir, 'b.sock');
    const server = await fakeQmp(sock, (_cmd, send) => send({error: {class: 'CommandNotFound', desc: 'The command nope has not been found'}}));
    try {
      await assert.rejects(qmpOnce(sock, 'nope'), /QEMU refused nope: The command nope has not been found/);
    } finally {
      server.close();
    }
  });

  test('a server that never answers times out instead of hanging', async () => {
    const sock = path.join(dir, 'c.sock');
    const server = net.createServer(() => { /* accepts, says nothing */ });
    await new Promise<void>((r) => server.listen(sock, r));
    try {
      const t0 = Date.now();
      await assert.rejects(QmpClient.connect(sock, 300), /did not answer on QMP within 300 ms/);
      assert.ok(Date.now() - t0 < 2000);
    } finally {
      server.close();
    }
  });

  test('a missing socket is an error, not a hang', async () => {
    await assert.rejects(QmpClient.connect(path.join(dir, 'missing.sock'), 500), /ENOENT/);
  });

  test('talks to a real QEMU: query-status, then quit makes the process exit', async () => {
    const sock = path.join(dir, 'real.sock');
    const pidFile = path.join(dir, 'real.pid');
    // No guest at all (-machine none): cheap, but the QMP socket is QEMU's real one.
    await execa('qemu-system-x86_64', ['-machine', 'none', '-S', '-display', 'none', '-nodefaults', '-qmp', `unix:${sock},server=on,wait=off`, '-pidfile', pidFile, '-daemonize']);
    const pid = (await readPidFile(pidFile))!;
    try {
      assert.ok(pidAlive(pid));
      const client = await QmpClient.connect(sock);
      try {
        const status = await client.execute<{status: string; running: boolean}>('query-status');
        assert.equal(status.status, 'prelaunch');
        assert.equal(status.running, false);
        await client.execute('quit');
      } finally {
        client.close();
      }
      assert.equal(await waitForExit(pid, 5000), true);
    } finally {
      if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
    }
  });
});
