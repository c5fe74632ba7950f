import assert from 'node:assert/strict';
import {chmod, lstat, mkdir, readdir, symlink} from 'node:fs/promises';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {sharedConnectionPath} from '../../src/communicators/ssh/shared-connection.js';
import {waitForExit} from '../../src/core/processes.js';
import {box, boxJson, tempDir} from '../helpers/cli.js';
import {runningMachine, sharedConnectionMasters} from '../helpers/running-machine.js';

// `box ssh` shares one OpenSSH connection per machine (issue 15), against a real sshd where the
// guest's forwarded port would be (test/helpers/running-machine.ts). Sessions on one connection
// come from one client port: the guest's $SSH_CONNECTION says whether the handshake was shared.
describe('box ssh: one shared SSH connection per machine', {concurrency: false}, () => {
  let project: {dir: string; cleanup: () => Promise<void>};
  let home: {dir: string; cleanup: () => Promise<void>};
  let machine: Awaited<ReturnType<typeof runningMachine>>;
  let machineDir: string;
  const ssh = (command: string) => box(['ssh', '-c', command], {cwd: project.dir, boxHome: home.dir});
  const clientPort = async () => {
    const run = await ssh('echo $SSH_CONNECTION');
    assert.equal(run.exitCode, 0, String(run.stderr));
    return String(run.stdout).split(' ')[1];
  };

  before(async () => {
    project = await tempDir('box-shared-ssh-');
    home = await tempDir('box-shared-ssh-home-');
    machine = await runningMachine(project.dir);
    machineDir = path.join(project.dir, '.box', 'machines', 'default');
  });
  after(async () => {
    await machine.stop();
    await project.cleanup();
    await home.cleanup();
  });

  test('the first box ssh leaves a master in the background; later ones (--json too) run on it', async () => {
    const first = await clientPort();
    assert.equal(sharedConnectionMasters(machineDir).length, 1, 'one master for the machine');
    const socket = sharedConnectionPath(machineDir, home.dir)!;
    assert.ok((await lstat(socket)).isSocket(), `${socket} is the master's socket`);
    assert.equal((await lstat(path.dirname(socket))).mode & 0o777, 0o700, 'only this user can enter the socket folder');
    assert.equal(await clientPort(), first, 'the second box ssh did not open a connection of its own');
    // The background master must not hold the pipes a captured run reads to their end.
    const json = await boxJson(['ssh', '-c', 'echo $SSH_CONNECTION; exit 4'], {cwd: project.dir, boxHome: home.dir, timeoutMs: 20_000});
    assert.equal(json.result.exitCode, 4);
    assert.equal(json.json.stdout.split(' ')[1], first);
    assert.equal(sharedConnectionMasters(machineDir).length, 1, 'still one master');
  });

  test('halt ends the master and removes its socket and folder', async () => {
    const [pid] = sharedConnectionMasters(machineDir);
    assert.ok(pid, 'a master runs before the halt');
    const halt = await box(['halt', '--force'], {cwd: project.dir, boxHome: home.dir});
    assert.equal(halt.exitCode, 0, String(halt.stderr));
    assert.ok(await waitForExit(pid, 5000), `master ${pid} still runs after halt`);
    assert.deepEqual(sharedConnectionMasters(machineDir), []);
    assert.deepEqual(await readdir(home.dir).then((names) => names.filter((n) => n === 'ssh')), [], 'BOX_HOME/ssh is gone with its last socket');
  });
});

describe('box ssh: a master that does not answer', () => {
  test('destroy kills a stopped master (it cannot obey ssh -O exit) and removes its socket', async () => {
    const project = await tempDir('box-shared-ssh-');
    const home = await tempDir('box-shared-ssh-home-');
    const machine = await runningMachine(project.dir);
    const machineDir = path.join(project.dir, '.box', 'machines', 'default');
    try {
      const ssh = await box(['ssh', '-c', 'true'], {cwd: project.dir, boxHome: home.dir});
      assert.equal(ssh.exitCode, 0, String(ssh.stderr));
      const [pid] = sharedConnectionMasters(machineDir);
      assert.ok(pid, 'box ssh left a master');
      process.kill(pid, 'SIGSTOP');
      const destroy = await box(['destroy', '--force'], {cwd: project.dir, boxHome: home.dir, timeoutMs: 30_000});
      assert.equal(destroy.exitCode, 0, String(destroy.stderr));
      assert.ok(await waitForExit(pid, 5000), `the stopped master ${pid} still runs after destroy`);
      assert.deepEqual(await readdir(home.dir).then((names) => names.filter((n) => n === 'ssh')), [], 'BOX_HOME/ssh is gone');
    } finally {
      for (const pid of sharedConnectionMasters(machineDir)) process.kill(pid, 'SIGKILL');
      await machine.stop();
      await project.cleanup();
      await home.cleanup();
    }
  });
});

describe('box ssh: where the connection is not shared', () => {
  test('a socket folder others can enter is not trusted: box ssh connects on its own each time', async () => {
    const project = await tempDir('box-shared-ssh-');
    const home = await tempDir('box-shared-ssh-home-');
    const machine = await runningMachine(project.dir);
    try {
      await mkdir(path.join(home.dir, 'ssh'));
      await chmod(path.join(home.dir, 'ssh'), 0o755);
      const port = async () => {
        const run = await box(['ssh', '-c', 'echo $SSH_CONNECTION'], {cwd: project.dir, boxHome: home.dir});
        assert.equal(run.exitCode, 0, String(run.stderr));
        return String(run.stdout).split(' ')[1];
      };
      assert.notEqual(await port(), await port());
      assert.deepEqual(sharedConnectionMasters(path.join(project.dir, '.box', 'machines', 'default')), []);
    } finally {
      await machine.stop();
      await project.cleanup();
      await home.cleanup();
    }
  });

  test('a socket path that would not fit a Unix socket: no shared connection', () => {
    assert.equal(sharedConnectionPath('/p/.box/machines/web', `/${'h'.repeat(80)}`), undefined);
    assert.match(sharedConnectionPath('/p/.box/machines/web', '/home/u/.box') ?? '', /^\/home\/u\/\.box\/ssh\/[0-9a-f]{16}\.sock$/);
    assert.notEqual(sharedConnectionPath('/p/.box/machines/web', '/h'), sharedConnectionPath('/p/.box/machines/db', '/h'));
  });

  test('a project reached through a symlink is one machine with one socket', async () => {
    const real = await tempDir('box-shared-ssh-real-');
    try {
      await mkdir(path.join(real.dir, 'machine'));
      await symlink(path.join(real.dir, 'machine'), path.join(real.dir, 'link'));
      assert.equal(sharedConnectionPath(path.join(real.dir, 'link'), '/h'), sharedConnectionPath(path.join(real.dir, 'machine'), '/h'));
    } finally {
      await real.cleanup();
    }
  });
});
