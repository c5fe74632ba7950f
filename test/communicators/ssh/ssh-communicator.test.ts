import assert from 'node:assert/strict';
import {execFileSync} from 'node:child_process';
import {chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {setTimeout as sleep} from 'node:timers/promises';
import {generateKeyPair} from '../../../src/communicators/keys.js';
import {SshCommunicator} from '../../../src/communicators/ssh/ssh-communicator.js';
import {createSshd, freePort, type Sshd} from '../../fixtures/sshd/sshd.js';

function communicator(sshd: Sshd, privateKey = sshd.key.privateKey): SshCommunicator {
  return new SshCommunicator({host: sshd.host, port: sshd.port, username: sshd.username, privateKey});
}

async function capture(comm: SshCommunicator, command: string, options: Parameters<SshCommunicator['exec']>[1] = {}): Promise<{code: number; stdout: string; stderr: string}> {
  let stdout = '';
  let stderr = '';
  const code = await comm.exec(command, {...options, onOutput: (stream, data) => (stream === 'stdout' ? (stdout += data) : (stderr += data))});
  return {code, stdout, stderr};
}

// Root logins get no SSH signal delivery from sshd (no privilege separation for them), so the
// test stops what it started itself, by pid.
function killPidFile(file: string): void {
  try {
    process.kill(Number(readFileSync(file, 'utf8')), 'SIGKILL');
  } catch {
    // Already gone.
  }
}

const never = () => new AbortController().signal;

describe('waitForReady', () => {
  test('waits for a server that starts a second after waiting began', async () => {
    const sshd = await createSshd({start: false});
    const comm = communicator(sshd);
    try {
      const started = Date.now();
      const ready = comm.waitForReady(15_000, never());
      setTimeout(() => void sshd.start(), 1000);
      await ready;
      assert.ok(Date.now() - started >= 900, 'ready before the server existed');
      assert.equal((await capture(comm, 'echo up')).stdout, 'up\n');
    } finally {
      await comm.close();
      await sshd.stop();
    }
  });

  test('fails with ERR_SSH_TIMEOUT when nothing listens on the port', async () => {
    const port = await freePort();
    const comm = new SshCommunicator({host: '127.0.0.1', port, username: 'nobody', privateKey: generateKeyPair().privateKey});
    const started = Date.now();
    await assert.rejects(comm.waitForReady(1500, never()), (error: {code: string; message: string}) => {
      assert.equal(error.code, 'ERR_SSH_TIMEOUT');
      assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${port}`));
      assert.match(error.message, /ECONNREFUSED/);
      return true;
    });
    assert.ok(Date.now() - started < 4000, 'the timeout was not honoured');
  });

  test('is interrupted promptly by its abort signal', async () => {
    const port = await freePort();
    const comm = new SshCommunicator({host: '127.0.0.1', port, username: 'nobody', privateKey: generateKeyPair().privateKey});
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const started = Date.now();
    await assert.rejects(comm.waitForReady(30_000, controller.signal), {code: 'ERR_INTERRUPTED'});
    assert.ok(Date.now() - started < 2500);
  });
});

describe('SshCommunicator against a real sshd', () => {
  let sshd: Sshd;
  let comm: SshCommunicator;
  let local: string;

  before(async () => {
    sshd = await createSshd();
    comm = communicator(sshd);
    await comm.waitForReady(10_000, never());
    local = mkdtempSync(path.join(os.tmpdir(), 'box-upload-src-'));
  });

  after(async () => {
    await comm?.close();
    await sshd?.stop();
    rmSync(local, {recursive: true, force: true});
  });

  test('a key the server rejects fails at the first rejection, naming the user and the key', async () => {
    const stranger = new SshCommunicator({host: sshd.host, port: sshd.port, username: sshd.username, privateKey: generateKeyPair().privateKey, keyName: '/keys/wrong_key'});
    const rejections = () => sshd.log().match(/Disconnected from authenticating user/g)?.length ?? 0;
    const before = rejections();
    const started = Date.now();
    // A long timeout: the rejection must end the wait, not the clock (box once retried 48 times over 180 s).
    await assert.rejects(stranger.waitForReady(60_000, never()), (error: {code: string; message: string; hint: string}) => {
      assert.equal(error.code, 'ERR_SSH_AUTH');
      assert.match(error.message, new RegExp(`rejected /keys/wrong_key for user "${sshd.username}"`));
      assert.match(error.hint, /ssh\.private_key_path/);
      return true;
    });
    assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
    await stranger.close();
    await sleep(200);
    assert.equal(rejections() - before, 1, `one login attempt:\n${sshd.log()}`);
  });

  test('with retryRejectedKey (an installer\'s sshd answers first) a rejected key is tried until the timeout', async () => {
    const stranger = new SshCommunicator({host: sshd.host, port: sshd.port, username: sshd.username, privateKey: generateKeyPair().privateKey, retryRejectedKey: true});
    await assert.rejects(stranger.waitForReady(1500, never()), (error: {code: string; message: string}) => {
      assert.equal(error.code, 'ERR_SSH_TIMEOUT');
      assert.match(error.message, /rejected/);
      return true;
    });
    await stranger.close();
  });

  test('a key file that is not a private key fails at once with ERR_SSH_KEY_INVALID naming the file', async () => {
    const file = path.join(local, 'not-a-key');
    writeFileSync(file, 'hello\n');
    const comm = await SshCommunicator.fromSshInfo({host: sshd.host, port: sshd.port, username: sshd.username, privateKeyPath: file});
    const started = Date.now();
    await assert.rejects(comm.waitForReady(60_000, never()), (error: {code: string; message: string}) => {
      assert.equal(error.code, 'ERR_SSH_KEY_INVALID');
      assert.ok(error.message.includes(file));
      return true;
    });
    assert.ok(Date.now() - started < 5000);
    await assert.rejects(SshCommunicator.fromSshInfo({host: sshd.host, port: sshd.port, username: sshd.username, privateKeyPath: path.join(local, 'missing')}), {code: 'ERR_SSH_KEY_INVALID'});
  });

  test('exec with a key the server refuses fails with ERR_SSH_AUTH naming the user', async () => {
    const stranger = communicator(sshd, generateKeyPair().privateKey);
    await assert.rejects(stranger.exec('true'), (error: {code: string; message: string}) => {
      assert.equal(error.code, 'ERR_SSH_AUTH');
      assert.ok(error.message.includes(`${sshd.username}@127.0.0.1:${sshd.port}`));
      return true;
    });
    await stranger.close();
  });

  test('exec with nothing listening fails with ERR_SSH_CONNECT', async () => {
    const port = await freePort();
    const nowhere = new SshCommunicator({host: '127.0.0.1', port, username: 'nobody', privateKey: sshd.key.privateKey});
    await assert.rejects(nowhere.exec('true'), (error: {code: string; message: string}) => {
      assert.equal(error.code, 'ERR_SSH_CONNECT');
      assert.match(error.message, /ECONNREFUSED/);
      return true;
    });
  });

  test('exec resolves with the exit code of the command', async () => {
    assert.equal(await comm.exec('true'), 0);
    assert.equal(await comm.exec('exit 3'), 3);
    assert.equal(await comm.exec('false'), 1);
  });

  test('a command killed by a signal reports 128 plus the signal number', async () => {
    assert.equal(await comm.exec('kill -KILL $$'), 137);
    assert.equal(await comm.exec('kill -TERM $$'), 143);
  });

  test('stdout and stderr are streamed separately and as they arrive', async () => {
    const events: {stream: string; data: string; at: number}[] = [];
    const started = Date.now();
    const code = await comm.exec('echo a; echo err >&2; sleep 1; echo b', {onOutput: (stream, data) => events.push({stream, data, at: Date.now() - started})});
    const ended = Date.now() - started;
    assert.equal(code, 0);
    assert.equal(events.filter((e) => e.stream === 'stdout').map((e) => e.data).join(''), 'a\nb\n');
    assert.equal(events.filter((e) => e.stream === 'stderr').map((e) => e.data).join(''), 'err\n');
    const a = events.find((e) => e.data.includes('a'))!;
    const b = events.find((e) => e.data.includes('b'))!;
    assert.ok(b.at - a.at >= 700, `"a" arrived at ${a.at} ms and "b" at ${b.at} ms: not streamed`);
    assert.ok(ended - a.at >= 700, 'first output came only when the command ended');
  });

  test('multi-byte characters split across chunks arrive intact', async () => {
    const {stdout} = await capture(comm, `printf '\\342\\202'; sleep 0.3; printf '\\254 ok\\n'`);
    assert.equal(stdout, '€ ok\n');
  });

  test('commands get no stdin, so one that reads it sees end of file', async () => {
    const {code, stdout} = await capture(comm, 'cat; echo done', {timeoutMs: 5000});
    assert.equal(code, 0);
    assert.equal(stdout, 'done\n');
  });

  test('sudo runs the command through sudo -n', async () => {
    assert.equal((await capture(comm, 'echo "[$SUDO_USER]"')).stdout, '[]\n');
    const {code, stdout} = await capture(comm, 'echo "[$SUDO_USER] $(id -u)"', {sudo: true});
    assert.equal(code, 0);
    assert.equal(stdout, `[${sshd.username}] 0\n`);
  });

  test('environment values with spaces, quotes, dollars and newlines arrive verbatim', async () => {
    const env = {PLAIN: 'x', TRICKY: `it's a "test" $HOME \`id\` \\ ;|&`, MULTI: 'line 1\nline 2', EMPTY: ''};
    const script = 'printf "%s|%s|%s|%s" "$PLAIN" "$TRICKY" "$MULTI" "$EMPTY"';
    const expected = `${env.PLAIN}|${env.TRICKY}|${env.MULTI}|`;
    assert.equal((await capture(comm, script, {env})).stdout, expected);
    assert.equal((await capture(comm, script, {env, sudo: true})).stdout, expected);
  });

  test('an invalid environment variable name is refused before anything runs', async () => {
    await assert.rejects(comm.exec('true', {env: {'BAD NAME': 'x'}}), {code: 'ERR_SSH_BAD_ENV'});
  });

  test('an aborted command rejects promptly and the connection stays usable', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const started = Date.now();
    const pidFile = path.join(sshd.dir, 'abort.pid');
    try {
      await assert.rejects(comm.exec(`echo $$ > ${pidFile}; exec sleep 30`, {signal: controller.signal}), {code: 'ERR_INTERRUPTED'});
      assert.ok(Date.now() - started < 3000, `abort took ${Date.now() - started} ms`);
      assert.equal(await comm.exec('true'), 0);
    } finally {
      killPidFile(pidFile);
    }
  });

  test('an abort while the channel of a command opens stops it too (it came before the listener)', async () => {
    assert.equal(await comm.exec('true'), 0); // connected: the next exec goes straight to opening its channel
    const controller = new AbortController();
    const started = Date.now();
    const pidFile = path.join(sshd.dir, 'abort-opening.pid');
    try {
      const run = comm.exec(`echo $$ > ${pidFile}; exec sleep 30`, {signal: controller.signal});
      controller.abort(); // exec has passed its first check and waits for the channel
      await assert.rejects(run, {code: 'ERR_INTERRUPTED'});
      assert.ok(Date.now() - started < 5000, `abort took ${Date.now() - started} ms`);
    } finally {
      killPidFile(pidFile);
    }
  });

  test('a command that outlives timeoutMs fails with ERR_SSH_COMMAND_TIMEOUT', async () => {
    const started = Date.now();
    const pidFile = path.join(sshd.dir, 'timeout.pid');
    try {
      await assert.rejects(comm.exec(`echo $$ > ${pidFile}; exec sleep 30`, {timeoutMs: 500}), {code: 'ERR_SSH_COMMAND_TIMEOUT'});
      assert.ok(Date.now() - started < 3500);
    } finally {
      killPidFile(pidFile);
    }
  });

  test('upload copies a file with its mode and creates missing parent folders', async () => {
    const file = path.join(local, 'config.txt');
    writeFileSync(file, 'hello\nworld\n');
    chmodSync(file, 0o640);
    const remote = path.join(sshd.dir, 'up', 'a', 'b', 'config.txt');
    await comm.upload(file, remote);
    const {stdout} = await capture(comm, `cat ${remote}; stat -c %a ${remote}`);
    assert.equal(stdout, 'hello\nworld\n640\n');
  });

  test('upload of a file onto an existing folder puts it inside', async () => {
    const file = path.join(local, 'inside.txt');
    writeFileSync(file, 'in');
    const remoteDir = path.join(sshd.dir, 'existing');
    mkdirSync(remoteDir);
    await comm.upload(file, remoteDir);
    assert.equal((await capture(comm, `cat ${remoteDir}/inside.txt`)).stdout, 'in');
  });

  test('upload copies a nested folder with modes and symlinks', async () => {
    const tree = path.join(local, 'tree');
    mkdirSync(path.join(tree, 'bin'), {recursive: true});
    mkdirSync(path.join(tree, 'etc', 'deep', 'er'), {recursive: true});
    writeFileSync(path.join(tree, 'bin', 'run.sh'), '#!/bin/sh\necho ran\n', {mode: 0o755});
    writeFileSync(path.join(tree, 'etc', 'deep', 'er', 'x.conf'), 'x=1\n', {mode: 0o600});
    writeFileSync(path.join(tree, 'top.txt'), 'top\n');
    symlinkSync('bin/run.sh', path.join(tree, 'link'));
    const remote = path.join(sshd.dir, 'copied', 'tree');
    await comm.upload(tree, remote);
    const listing = (dir: string) => execFileSync('sh', ['-c', `cd ${dir} && find . -printf '%p %y %m\\n' | sort`], {encoding: 'utf8'});
    const check = `cd ${remote} && find . -printf '%p %y %m\\n' | sort; ./bin/run.sh; readlink link`;
    assert.equal((await capture(comm, check)).stdout, listing(tree) + 'ran\nbin/run.sh\n');
    // Uploading again over the existing copy (links included) gives the same tree.
    await comm.upload(tree, remote);
    assert.equal((await capture(comm, check)).stdout, listing(tree) + 'ran\nbin/run.sh\n');
  });

  test('upload to a path under ~ lands in the user\'s home', async () => {
    const file = path.join(local, 'home.txt');
    writeFileSync(file, 'home');
    const name = `.box-test-${process.pid}-${Date.now()}`;
    try {
      await comm.upload(file, `~/${name}/home.txt`);
      assert.equal((await capture(comm, `cat "$HOME/${name}/home.txt"`)).stdout, 'home');
    } finally {
      await comm.exec(`rm -rf "$HOME/${name}"`);
    }
  });

  test('upload of a missing local path fails with ERR_UPLOAD_SOURCE_MISSING', async () => {
    await assert.rejects(comm.upload(path.join(local, 'nope'), '/tmp/nope'), (error: {code: string; message: string}) => {
      assert.equal(error.code, 'ERR_UPLOAD_SOURCE_MISSING');
      assert.match(error.message, /nope/);
      return true;
    });
  });

  test('upload to a path that cannot be written fails with ERR_SSH_UPLOAD naming it', async () => {
    const file = path.join(local, 'blocked.txt');
    writeFileSync(file, 'x');
    const blocker = path.join(sshd.dir, 'blocker');
    writeFileSync(blocker, 'a file, not a folder');
    await assert.rejects(comm.upload(file, `${blocker}/sub/blocked.txt`), (error: {code: string; message: string}) => {
      assert.equal(error.code, 'ERR_SSH_UPLOAD');
      assert.ok(error.message.includes(blocker));
      return true;
    });
  });

  test('a connection lost mid-command fails with ERR_SSH_DISCONNECTED and the next exec reconnects', async () => {
    const other = communicator(sshd);
    try {
      // $PPID is the sshd process serving this connection: killing it drops the connection.
      await assert.rejects(other.exec('kill -KILL $PPID; sleep 5'), {code: 'ERR_SSH_DISCONNECTED'});
      assert.equal(await other.exec('exit 6'), 6);
    } finally {
      await other.close();
    }
  });

  test('keepalive notices a connection that went silent and forgets it', async () => {
    // A TCP relay that can be frozen: packets stop flowing but nothing is closed.
    let frozen = false;
    const sockets: net.Socket[] = [];
    const relay = net.createServer((inbound) => {
      const outbound = net.connect(sshd.port, sshd.host);
      sockets.push(inbound, outbound);
      inbound.on('data', (d) => frozen || outbound.write(d));
      outbound.on('data', (d) => frozen || inbound.write(d));
      inbound.on('error', () => outbound.destroy());
      outbound.on('error', () => inbound.destroy());
      inbound.on('close', () => outbound.destroy());
      outbound.on('close', () => inbound.destroy());
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const {port} = relay.address() as net.AddressInfo;
    const other = new SshCommunicator({host: '127.0.0.1', port, username: sshd.username, privateKey: sshd.key.privateKey, keepaliveIntervalMs: 200, keepaliveCountMax: 2});
    try {
      assert.equal(await other.exec('true'), 0);
      frozen = true;
      const started = Date.now();
      while (other.connected && Date.now() - started < 5000) await sleep(50);
      assert.equal(other.connected, false, 'keepalive did not drop the silent connection');
      frozen = false;
      assert.equal(await other.exec('exit 2'), 2);
    } finally {
      await other.close();
      for (const socket of sockets) socket.destroy();
      relay.close();
    }
  });

  test('after close the next exec reconnects', async () => {
    const other = communicator(sshd);
    assert.equal(await other.exec('true'), 0);
    assert.ok(other.connected);
    await other.close();
    assert.equal(other.connected, false);
    assert.equal(await other.exec('exit 4'), 4);
    await other.close();
  });
});
