/**
 * Lifecycle commands without booting a guest: not-created machines, half-created ones left by
 * a crash (a real QEMU process with no recorded state, state with no disk), port collisions
 * caught before anything is created, and the JSON shapes. Guest boots are in test/e2e/.
 */
import assert from 'node:assert/strict';
import {existsSync} from 'node:fs';
import {mkdir, readFile, rm, writeFile} from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {execa} from 'execa';
import {box, boxBin, boxJson, tempDir} from '../helpers/cli.js';
import {pidAlive, waitForExit} from '../../src/core/processes.js';
import {readPidFile} from '../../src/providers/qemu/process.js';
import {portIsFree} from '../../src/providers/shared/ports.js';

const portFree = (port: number) => portIsFree('tcp', '127.0.0.1', port);

describe('lifecycle commands without a guest', () => {
  let home: Awaited<ReturnType<typeof tempDir>>;
  let project: Awaited<ReturnType<typeof tempDir>>;
  const orphans: number[] = [];
  const runJson = (args: string[]) => boxJson(args, {cwd: project.dir, boxHome: home.dir});
  const machineDir = () => path.join(project.dir, '.box', 'machines', 'default');

  before(async () => {
    home = await tempDir('box-lc-home-');
    project = await tempDir('box-lc-project-');
    await writeFile(path.join(project.dir, 'Boxfile'), 'basebox: debian-12-minimal\ntarget: qemu\n');
  });

  after(async () => {
    for (const pid of orphans) if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
    await project.cleanup();
    await home.cleanup();
  });

  test('status of a machine never created is not-created, in text and JSON', async () => {
    const text = await box(['status'], {cwd: project.dir, boxHome: home.dir});
    assert.equal(text.exitCode, 0);
    assert.match(String(text.stdout), /^default\s+not-created\s+qemu/m);
    const {json} = await runJson(['status']);
    assert.deepEqual(json.machines.map((m: any) => [m.name, m.status, m.target]), [['default', 'not-created', 'qemu']]);
  });

  test('destroy, halt and status on a not-created machine succeed and change nothing', async () => {
    const d = await runJson(['destroy']);
    assert.equal(d.result.exitCode, 0);
    assert.deepEqual(d.json.machines, [{name: 'default', destroyed: false, previousStatus: 'not-created'}]);
    const h = await runJson(['halt']);
    assert.equal(h.result.exitCode, 0);
    assert.equal(h.json.machines[0].wasRunning, false);
    assert.equal(existsSync(path.join(project.dir, '.box')), false);
  });

  test('destroy after a box killed before it made anything (only its lock left, its holder dead) frees the lock at once and leaves no .box', async () => {
    const gone = execa('true');
    await gone;
    const lockDir = path.join(machineDir(), 'machine.lock');
    await mkdir(lockDir, {recursive: true});
    await writeFile(path.join(lockDir, 'owner.json'), JSON.stringify({pid: gone.pid, host: os.hostname()}));
    const t0 = Date.now();
    const d = await runJson(['destroy', '--force']);
    assert.equal(d.result.exitCode, 0, String(d.result.stderr));
    assert.deepEqual(d.json.machines, [{name: 'default', destroyed: false, previousStatus: 'not-created'}]);
    assert.ok(Date.now() - t0 < 10_000, 'the dead holder\'s lock is not waited out');
    assert.equal(existsSync(path.join(project.dir, '.box')), false);
  });

  test('ssh and ssh-config on a not-created machine fail with the next step', async () => {
    const s = await runJson(['ssh', '-c', 'true']);
    assert.equal(s.result.exitCode, 1);
    assert.equal(s.json.error.code, 'ERR_NOT_RUNNING');
    assert.match(s.json.error.hint, /box up default/);
    const c = await runJson(['ssh-config']);
    assert.equal(c.json.error.code, 'ERR_NOT_CREATED');
  });

  test('an unknown machine name is a usage error', async () => {
    const r = await runJson(['status', 'nope']);
    assert.equal(r.result.exitCode, 2);
  });

  test('up with a forwarded port in use fails with exit 2 before creating anything', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const {port} = server.address() as net.AddressInfo;
    const other = await tempDir('box-lc-ports-');
    try {
      await writeFile(path.join(other.dir, 'Boxfile'), `basebox: debian-12-minimal\nforwarded_ports:\n  - {guest: 80, host: ${port}}\n`);
      const {result, json} = await boxJson(['up'], {cwd: other.dir, boxHome: home.dir});
      assert.equal(result.exitCode, 2);
      assert.equal(json.error.code, 'ERR_PORT_COLLISION');
      assert.match(json.error.message, /Boxfile: forwarded_ports of machine "default"/);
      assert.equal(existsSync(path.join(other.dir, '.box', 'machines', 'default')), false);
    } finally {
      server.close();
      await other.cleanup();
    }
  });

  test('a QEMU process known only from its pid file is reported broken and destroy kills it', async () => {
    await mkdir(machineDir(), {recursive: true});
    const disk = path.join(machineDir(), 'disk.qcow2');
    await execa('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '64M']);
    const pidFile = path.join(machineDir(), 'qemu.pid');
    // A real QEMU as `up` would have left it if box was killed before state.json was written
    // (no guest runs: -machine none keeps the test cheap).
    await execa('qemu-system-x86_64', ['-machine', 'none', '-S', '-display', 'none', '-nodefaults',
      '-drive', `file=${disk},if=none,format=qcow2,id=d0`, '-pidfile', pidFile, '-daemonize']);
    const pid = (await readPidFile(pidFile))!;
    orphans.push(pid);
    const {json} = await runJson(['status']);
    assert.equal(json.machines[0].status, 'broken');
    assert.equal(json.machines[0].repair, 'box destroy default');
    assert.equal(json.machines[0].details.pid, pid);
    const text = await box(['status'], {cwd: project.dir, boxHome: home.dir});
    assert.match(String(text.stdout), /Repair: box destroy default/);
    const d = await runJson(['destroy', '--force']);
    assert.equal(d.result.exitCode, 0, String(d.result.stderr));
    assert.equal(d.json.machines[0].destroyed, true);
    assert.equal(await waitForExit(pid, 5000), true);
    assert.equal(existsSync(path.join(project.dir, '.box')), false);
  });

  test('state recorded but no disk (crash during create) is broken and destroy removes it', async () => {
    await mkdir(machineDir(), {recursive: true});
    await writeFile(path.join(machineDir(), 'state.json'), JSON.stringify({
      machine: 'default', target: 'qemu', createdAt: new Date().toISOString(), provisioned: false,
      provider: {phase: 'creating', disk: path.join(machineDir(), 'disk.qcow2'), pidFile: path.join(machineDir(), 'qemu.pid'), qmpSocket: path.join(machineDir(), 'qmp.sock'), serialLog: path.join(machineDir(), 'serial.log'), forwardedPorts: [], keyInserted: false},
    }));
    const {json} = await runJson(['status']);
    assert.equal(json.machines[0].status, 'broken');
    assert.match(json.machines[0].reason, /half created/);
    const d = await runJson(['destroy']);
    assert.equal(d.json.machines[0].previousStatus, 'broken');
    assert.equal(existsSync(path.join(project.dir, '.box')), false);
    assert.equal((await runJson(['status'])).json.machines[0].status, 'not-created');
  });

  describe('with a box whose image does not boot (fake store entries)', () => {
    let other: Awaited<ReturnType<typeof tempDir>>;
    const qemuOf = (dir: string) => execa('pgrep', ['-f', dir], {reject: false}).then((r) => String(r.stdout).split('\n').filter(Boolean).map(Number));

    before(async () => {
      other = await tempDir('box-lc-fake-');
      for (const [name, image] of [['blank', 'qcow2'], ['garbage', 'text']] as const) {
        const dir = path.join(home.dir, 'boxes', name, '1.0.0', 'libvirt');
        await mkdir(dir, {recursive: true});
        if (image === 'qcow2') await execa('qemu-img', ['create', '-q', '-f', 'qcow2', path.join(dir, 'box.img'), '1G']);
        else await writeFile(path.join(dir, 'box.img'), 'this is not a disk image\n');
        await writeFile(path.join(dir, 'metadata.json'), JSON.stringify({provider: 'libvirt', format: 'qcow2', virtual_size: 1}));
      }
    });
    after(async () => {
      await box(['destroy', '--force'], {cwd: other.dir, boxHome: home.dir});
      for (const pid of await qemuOf(other.dir)) process.kill(pid, 'SIGKILL');
      await other.cleanup();
    });

    test('a damaged box image fails before boot, saying what it is, and leaves nothing behind', async () => {
      await writeFile(path.join(other.dir, 'Boxfile'), 'basebox: garbage\nssh:\n  timeout: 20\n');
      const {result, json} = await boxJson(['up'], {cwd: other.dir, boxHome: home.dir});
      assert.equal(result.exitCode, 1);
      assert.equal(json.error.code, 'ERR_BOX_INVALID');
      assert.match(json.error.message, /box\.img is declared qcow2 but is not a qcow2 image \(no qcow2 header\)/);
      assert.deepEqual(await qemuOf(other.dir), []);
      assert.equal(existsSync(path.join(other.dir, '.box')), false);
    });

    test('a QEMU that refuses to start is reported with QEMU\'s own message', async () => {
      await writeFile(path.join(other.dir, 'Boxfile'), 'basebox: blank\ntargets:\n  qemu:\n    extra_args: ["-no-such-option"]\n');
      const {result, json} = await boxJson(['up'], {cwd: other.dir, boxHome: home.dir});
      assert.equal(result.exitCode, 1);
      assert.equal(json.error.code, 'ERR_QEMU_START');
      assert.match(json.error.message, /-no-such-option: invalid option/);
      assert.equal(existsSync(path.join(other.dir, '.box')), false);
    });

    // Each create step undoes what it and the steps before it made (runCreateSteps, issue 11):
    // create-disk (an overlay half made), boot (a QEMU that started although box saw a failure),
    // wait-for-ssh (the SSH timeout below); insert-key needs a guest (test/faults/qemu-up).
    test('create-disk failing after qemu-img wrote the overlay: the disk and the record are removed, said once', async () => {
      const bin = path.join(other.dir, 'bin');
      await mkdir(bin, {recursive: true});
      const real = String((await execa('sh', ['-c', 'command -v qemu-img'])).stdout).trim();
      await writeFile(path.join(bin, 'qemu-img'), `#!/bin/sh\n"${real}" "$@" || exit $?\ncase "$1" in create) echo "qemu-img: simulated failure after writing the overlay" >&2; exit 1;; esac\n`, {mode: 0o755});
      await writeFile(path.join(other.dir, 'Boxfile'), 'basebox: blank\nssh:\n  timeout: 20\n');
      const {result, json} = await boxJson(['up'], {cwd: other.dir, boxHome: home.dir, env: {PATH: `${bin}:${process.env.PATH}`}});
      await rm(bin, {recursive: true});
      assert.equal(result.exitCode, 1, String(result.stderr));
      assert.equal(json.error.code, 'ERR_QEMU_IMG');
      assert.match(json.error.message, /simulated failure after writing the overlay/);
      assert.equal(String(result.stderr).match(/Failed: destroying the new machine default/g)?.length, 1, String(result.stderr));
      assert.match(String(result.stderr), /Failed: the new machine default was removed; nothing of it is left\./);
      assert.equal(existsSync(path.join(other.dir, '.box')), false);
      assert.doesNotMatch(await readFile(path.join(home.dir, 'machines.json'), 'utf8').catch(() => ''), new RegExp(other.dir), 'no index entry is left');
    });

    test('boot failing after QEMU started: the QEMU the step started is stopped, the disk and record removed', async () => {
      // A QEMU that daemonizes (the guest runs) and then reports a failure, as a wrapper might.
      const wrapper = path.join(other.dir, 'failing-qemu');
      await writeFile(wrapper, '#!/bin/sh\nqemu-system-x86_64 "$@" || exit $?\ncase " $* " in *" -daemonize "*) echo "simulated failure after start" >&2; exit 1;; esac\n', {mode: 0o755});
      await writeFile(path.join(other.dir, 'Boxfile'), `basebox: blank\nssh:\n  timeout: 20\ntargets:\n  qemu: {memory: 64, binary: ${wrapper}}\n`);
      const {result, json} = await boxJson(['up'], {cwd: other.dir, boxHome: home.dir});
      assert.equal(result.exitCode, 1, String(result.stderr));
      assert.equal(json.error.code, 'ERR_QEMU_START');
      assert.match(json.error.message, /simulated failure after start/);
      assert.equal(String(result.stderr).match(/destroying the new machine default/g)?.length, 1, String(result.stderr));
      assert.deepEqual(await qemuOf(other.dir), [], 'the QEMU that started is gone');
      assert.equal(existsSync(path.join(other.dir, '.box')), false);
    });

    test('an SSH timeout points at the serial log, and the new machine is destroyed', async () => {
      await writeFile(path.join(other.dir, 'Boxfile'), 'basebox: blank\nssh:\n  timeout: 2\n');
      const {result, json} = await boxJson(['up'], {cwd: other.dir, boxHome: home.dir});
      assert.equal(result.exitCode, 1);
      assert.equal(json.error.code, 'ERR_SSH_TIMEOUT');
      assert.match(json.error.message, /within 2 s\. Last lines of .*serial\.log/);
      assert.match(String(result.stderr), /destroying the new machine default/);
      assert.equal(existsSync(path.join(other.dir, '.box')), false);
      assert.deepEqual(await qemuOf(other.dir), []);
    });

    test('Ctrl-C during up of a new machine exits 130 and removes the QEMU and the files it made', async () => {
      await writeFile(path.join(other.dir, 'Boxfile'), 'basebox: blank\nssh:\n  timeout: 60\n');
      const child = execa(process.execPath, [boxBin, 'up'], {cwd: other.dir, env: {BOX_HOME: home.dir, NO_COLOR: '1'}, reject: false});
      const pidFile = path.join(other.dir, '.box', 'machines', 'default', 'qemu.pid');
      const deadline = Date.now() + 30_000;
      while (!existsSync(pidFile) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      assert.ok(existsSync(pidFile), 'QEMU started');
      child.kill('SIGINT');
      const result = await child;
      assert.equal(result.exitCode, 130, String(result.stderr));
      assert.match(String(result.stderr), /Interrupted: destroying the new machine default/);
      assert.deepEqual(await qemuOf(other.dir), []);
      assert.equal(existsSync(path.join(other.dir, '.box')), false);
    });

    test('--no-destroy-on-error keeps the machine running for debugging until destroy; status calls its unfinished first up broken', async () => {
      const {result} = await boxJson(['up', '--no-destroy-on-error'], {cwd: other.dir, boxHome: home.dir});
      assert.equal(result.exitCode, 1);
      const {json} = await boxJson(['status'], {cwd: other.dir, boxHome: home.dir});
      assert.equal(json.machines[0].status, 'broken');
      assert.match(json.machines[0].reason, /first `box up` did not finish/);
      assert.equal(json.machines[0].repair, 'box up default');
      assert.equal(json.machines[0].details.vm, 'running');
      assert.equal(json.machines[0].details.accel, 'tcg');
      assert.equal((await qemuOf(other.dir)).length, 1);
      const d = await boxJson(['destroy'], {cwd: other.dir, boxHome: home.dir});
      assert.equal(d.json.machines[0].previousStatus, 'broken');
      assert.deepEqual(await qemuOf(other.dir), []);
      assert.equal(existsSync(path.join(other.dir, '.box')), false);
    });

    /** `up --no-destroy-on-error` of the blank box: a real QEMU (BIOS, no guest) that stays. */
    async function keptMachine(): Promise<{pid: number; state: string}> {
      await writeFile(path.join(other.dir, 'Boxfile'), 'basebox: blank\nssh:\n  timeout: 2\ntargets:\n  qemu: {memory: 64}\n');
      const {result} = await boxJson(['up', '--no-destroy-on-error'], {cwd: other.dir, boxHome: home.dir});
      assert.equal(result.exitCode, 1);
      const [pid] = await qemuOf(other.dir);
      assert.ok(pid, 'QEMU runs');
      return {pid, state: path.join(other.dir, '.box', 'machines', 'default', 'state.json')};
    }

    test('a garbage state.json: status says broken with the QEMU it found and the repair; up, halt, ssh refuse clearly; destroy stops that QEMU', async () => {
      const {pid, state} = await keptMachine();
      const sshPort = JSON.parse(await readFile(state, 'utf8')).provider.sshPort as number;
      await writeFile(state, (await readFile(state, 'utf8')).slice(0, 100));
      const {result, json} = await boxJson(['status'], {cwd: other.dir, boxHome: home.dir});
      assert.equal(result.exitCode, 0);
      assert.equal(json.machines[0].status, 'broken');
      assert.match(json.machines[0].reason, /state\.json is unreadable \(it is not JSON/);
      assert.match(json.machines[0].reason, new RegExp(`its QEMU \\(pid ${pid}\\) is running`));
      assert.equal(json.machines[0].repair, 'box destroy default');
      for (const args of [['up'], ['halt'], ['ssh', '-c', 'true'], ['provision']]) {
        const r = await boxJson(args, {cwd: other.dir, boxHome: home.dir});
        assert.equal(r.result.exitCode, 1, args.join(' '));
        assert.notEqual(r.json.error.code, 'ERR_UNEXPECTED', `${args.join(' ')}: ${r.json.error.message}`);
        assert.match(r.json.error.hint, /box destroy default/, args.join(' '));
      }
      const d = await boxJson(['destroy', '--force'], {cwd: other.dir, boxHome: home.dir});
      assert.equal(d.result.exitCode, 0, String(d.result.stderr));
      assert.equal(d.json.machines[0].destroyed, true);
      assert.equal(await waitForExit(pid, 5000), true, 'the QEMU is gone');
      assert.equal(await portFree(sshPort), true, 'and its SSH port is free again');
      assert.equal(existsSync(path.join(other.dir, '.box')), false);
    });

    test('state.json with wrong disk, pid and socket paths and no pid file: destroy still finds the QEMU by its command line', async () => {
      const {pid, state} = await keptMachine();
      const record = JSON.parse(await readFile(state, 'utf8'));
      Object.assign(record.provider, {pid: 1, disk: '/nonexistent/disk.qcow2', pidFile: '/nonexistent/qemu.pid', qmpSocket: '/nonexistent/qmp.sock', serialLog: '/nonexistent/serial.log'});
      await writeFile(state, JSON.stringify(record));
      await rm(path.join(other.dir, '.box', 'machines', 'default', 'qemu.pid'));
      const {json} = await boxJson(['status'], {cwd: other.dir, boxHome: home.dir});
      assert.equal(json.machines[0].details.pid, pid, 'status finds it too');
      const d = await boxJson(['destroy', '--force'], {cwd: other.dir, boxHome: home.dir});
      assert.equal(d.result.exitCode, 0, String(d.result.stderr));
      assert.equal(await waitForExit(pid, 5000), true, 'destroy said destroyed, and the QEMU is really gone');
      assert.deepEqual(await qemuOf(other.dir), []);
      assert.ok(pidAlive(1), 'pid 1 from the record was left alone');
    });

    test('a project copied with its .box folder: the copy\'s destroy leaves the original\'s QEMU alone', async () => {
      const {pid} = await keptMachine();
      const copy = await tempDir('box-lc-copy-');
      try {
        await execa('cp', ['-a', `${other.dir}/.`, copy.dir]);
        const st = await boxJson(['status'], {cwd: copy.dir, boxHome: home.dir});
        assert.notEqual(st.json.machines[0].status, 'running');
        assert.equal(st.json.machines[0].details?.pid, undefined, 'the original\'s QEMU is not the copy\'s');
        const d = await boxJson(['destroy', '--force'], {cwd: copy.dir, boxHome: home.dir});
        assert.equal(d.result.exitCode, 0, String(d.result.stderr));
        assert.ok(pidAlive(pid), 'the original QEMU still runs');
      } finally {
        await copy.cleanup();
      }
      await boxJson(['destroy', '--force'], {cwd: other.dir, boxHome: home.dir});
      assert.equal(await waitForExit(pid, 5000), true);
    });

    test('Ctrl-C in a terminal (SIGINT to the whole process group) while QEMU starts: Interrupted, exit 130, nothing left', async () => {
      // A QEMU binary that takes 2 s to start, so the SIGINT lands while it starts, as a
      // terminal's Ctrl-C reaches every process of the foreground group.
      const wrapper = path.join(other.dir, 'slow-qemu');
      const mark = path.join(other.dir, 'qemu-starting');
      await writeFile(wrapper, '#!/bin/sh\ncase " $* " in *" -daemonize "*) : > "$BOX_TEST_MARK"; sleep 2;; esac\nexec qemu-system-x86_64 "$@"\n', {mode: 0o755});
      await writeFile(path.join(other.dir, 'Boxfile'), `basebox: blank\nssh:\n  timeout: 60\ntargets:\n  qemu: {memory: 64, binary: ${wrapper}}\n`);
      const child = execa(process.execPath, [boxBin, 'up'], {cwd: other.dir, env: {BOX_HOME: home.dir, NO_COLOR: '1', BOX_TEST_MARK: mark}, reject: false, detached: true});
      const deadline = Date.now() + 30_000;
      while (!existsSync(mark) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.ok(existsSync(mark), 'QEMU is starting');
      process.kill(-child.pid!, 'SIGINT');
      const result = await child;
      assert.equal(result.exitCode, 130, String(result.stderr));
      assert.match(String(result.stderr), /Interrupted: destroying the new machine default/);
      assert.doesNotMatch(String(result.stderr), /QEMU failed to start|qemu-img check/);
      await new Promise((r) => setTimeout(r, 500));
      assert.deepEqual(await qemuOf(other.dir), []);
      assert.equal(existsSync(path.join(other.dir, '.box')), false);
    });
  });
});
