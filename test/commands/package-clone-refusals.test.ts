/**
 * What `box package` and `box up NEW --from` refuse, before anything is made or touched: no
 * guest boots here. A "running" source is a real QEMU with `-machine none` (it answers QMP as a
 * running machine does), disks are real qcow2 files with real internal snapshots.
 */
import assert from 'node:assert/strict';
import {existsSync} from 'node:fs';
import {mkdir, readFile, rm, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {execa} from 'execa';
import YAML from 'yaml';
import {box, tempDir} from '../helpers/cli.js';
import {waitForExit} from '../../src/core/processes.js';

describe('box package and box up --from: refusals', () => {
  let home: Awaited<ReturnType<typeof tempDir>>;
  let project: Awaited<ReturnType<typeof tempDir>>;
  const run = (args: string[], cwd = project.dir) => box(args, {cwd, boxHome: home.dir});
  const machineDir = (name: string) => path.join(project.dir, '.box', 'machines', name);

  /** A halted qemu machine `name` as `box up` records it, on a real qcow2 (with snapshot s1). */
  async function recordHaltedMachine(name: string): Promise<void> {
    const dir = machineDir(name);
    await mkdir(dir, {recursive: true});
    const boxImage = path.join(project.dir, 'box.img');
    if (!existsSync(boxImage)) await execa('qemu-img', ['create', '-q', '-f', 'qcow2', boxImage, '64M']);
    await execa('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', boxImage, '-F', 'qcow2', path.join(dir, 'disk.qcow2')]);
    await execa('qemu-img', ['snapshot', '-c', 's1', path.join(dir, 'disk.qcow2')]);
    await writeFile(path.join(dir, 'state.json'), JSON.stringify({
      machine: name, target: 'qemu', createdAt: new Date().toISOString(), provisioned: true, upCompleted: true,
      provider: {phase: 'created', disk: path.join(dir, 'disk.qcow2'), baseImage: boxImage, baseFormat: 'qcow2', pidFile: path.join(dir, 'qemu.pid'), qmpSocket: path.join(dir, 'qmp.sock'), serialLog: path.join(dir, 'serial.log'), forwardedPorts: [], keyInserted: true},
    }));
  }

  /** `name` as `box suspend` leaves it: the record names its saved state, whose file is there (status: suspended). */
  async function markSuspended(name: string): Promise<void> {
    const dir = machineDir(name);
    const file = path.join(dir, 'suspend.state');
    await writeFile(file, 'saved RAM');
    const state = JSON.parse(await readFile(path.join(dir, 'state.json'), 'utf8'));
    state.provider.suspended = {file, at: new Date().toISOString(), bytes: 9, launch: [], binary: {path: '/usr/bin/qemu-system-x86_64', size: 1, mtimeMs: 1}, baseImage: {path: state.provider.baseImage, size: 1, mtimeMs: 1}};
    await writeFile(path.join(dir, 'state.json'), JSON.stringify(state));
  }

  before(async () => {
    home = await tempDir('box-pkg-home-');
    project = await tempDir('box-pkg-');
    await writeFile(path.join(project.dir, 'Boxfile'), YAML.stringify({basebox: 'debian-12-minimal', target: 'qemu', machines: {web: {}, db: {}}}));
  });
  after(async () => {
    await project?.cleanup();
    await home?.cleanup();
  });

  test('package: several machines and none named is a usage error', async () => {
    const result = await run(['package']);
    assert.equal(result.exitCode, 2);
    assert.match(String(result.stderr), /has 2 machines; name the one to package/);
  });

  test('package: an existing output file is kept without --force (checked before the machine is touched)', async () => {
    await writeFile(path.join(project.dir, 'web.box'), 'mine');
    const result = await run(['package', 'web']);
    assert.equal(result.exitCode, 2);
    assert.match(String(result.stderr), /web\.box already exists; nothing was packaged/);
    assert.equal(await readFile(path.join(project.dir, 'web.box'), 'utf8'), 'mine');
  });

  test('package: a machine that is not created fails, and writes nothing', async () => {
    const result = await run(['package', 'web', '--output', 'out.box', '--json']);
    assert.equal(result.exitCode, 1);
    assert.equal(JSON.parse(String(result.stdout)).error.code, 'ERR_NOT_CREATED');
    assert.equal(existsSync(path.join(project.dir, 'out.box')), false);
  });

  test('package: a suspended machine is refused as suspended (box up or halt --force first); nothing is written or changed', async () => {
    await recordHaltedMachine('web').catch(() => undefined);
    await markSuspended('web');
    const before = await readFile(path.join(machineDir('web'), 'state.json'), 'utf8');
    const result = await run(['package', 'web', '--output', 'out.box', '--json']);
    assert.equal(result.exitCode, 1, String(result.stderr));
    const {error} = JSON.parse(String(result.stdout));
    assert.equal(error.code, 'ERR_MACHINE_SUSPENDED');
    assert.match(error.message, /Machine web is suspended; box package needs it running or halted; nothing was packaged/);
    assert.match(error.hint, /box up web.*box halt --force web/);
    assert.equal(existsSync(path.join(project.dir, 'out.box')), false);
    assert.equal(await readFile(path.join(machineDir('web'), 'state.json'), 'utf8'), before, 'the record is untouched');
    assert.equal(existsSync(path.join(machineDir('web'), 'suspend.state')), true, 'the saved state is kept');
    await rm(machineDir('web'), {recursive: true, force: true});
  });

  test('package on virtualbox of a machine that was never created: nothing to package, no file', async () => {
    const vb = await tempDir('box-pkg-vb-');
    try {
      await writeFile(path.join(vb.dir, 'Boxfile'), YAML.stringify({basebox: 'debian-12-minimal', target: 'virtualbox'}));
      const result = await run(['package', '--json'], vb.dir);
      assert.equal(result.exitCode, 1, String(result.stderr));
      assert.equal(JSON.parse(String(result.stdout)).error.code, 'ERR_NOT_CREATED');
      assert.equal(existsSync(path.join(vb.dir, 'default.box')), false);
    } finally {
      await vb.cleanup();
    }
  });

  test('--from: one new machine, named other than its source, MACHINE or MACHINE@SNAPSHOT', async () => {
    for (const [args, message] of [
      [['up', '--from', 'web'], /name exactly one \(got none\)/],
      [['up', 'a', 'b', '--from', 'web'], /name exactly one \(got a, b\)/],
      [['up', 'web', '--from', 'web'], /cannot be cloned onto itself/],
      [['up', 'copy', '--from', 'web@'], /is not MACHINE or MACHINE@SNAPSHOT/],
      [['up', 'copy', '--from', 'nosuch'], /No machine named "nosuch" to clone/],
    ] as const) {
      const result = await run([...args]);
      assert.equal(result.exitCode, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(String(result.stderr), message);
    }
  });

  test('--from a machine that is not created, or onto one that exists, is refused and makes nothing', async () => {
    const fromNothing = await run(['up', 'copy', '--from', 'db']);
    assert.equal(fromNothing.exitCode, 2);
    assert.match(String(fromNothing.stderr), /db is not created: there is no disk to clone/);
    await recordHaltedMachine('web');
    await recordHaltedMachine('db');
    const exists = await run(['up', 'db', '--from', 'web']);
    assert.equal(exists.exitCode, 2);
    assert.match(String(exists.stderr), /db already exists; --from only makes new machines/);
    assert.equal(existsSync(machineDir('copy')), false);
  });

  test('--from a snapshot the source does not have names the ones it has; nothing of the clone is left', async () => {
    await recordHaltedMachine('web').catch(() => undefined);
    const result = await run(['up', 'copy', '--from', 'web@nope']);
    assert.equal(result.exitCode, 2, String(result.stderr));
    assert.match(String(result.stderr), /web has no snapshot "nope"/);
    assert.match(String(result.stderr), /Its snapshots: s1/);
    assert.equal(existsSync(machineDir('copy')), false);
    const status = await box(['status', '--json'], {cwd: project.dir, boxHome: home.dir});
    assert.deepEqual(JSON.parse(String(status.stdout)).machines.map((m: {name: string}) => m.name), ['web', 'db']);
  });

  test('--from a running machine without a snapshot is refused (its disk changes under the copy)', async () => {
    await recordHaltedMachine('web').catch(() => undefined);
    const dir = machineDir('web');
    await execa('qemu-system-x86_64', ['-machine', 'none', '-display', 'none', '-qmp', `unix:${dir}/qmp.sock,server=on,wait=off`, '-pidfile', `${dir}/qemu.pid`, '-daemonize']);
    const pid = Number((await readFile(path.join(dir, 'qemu.pid'), 'utf8')).trim());
    try {
      const result = await run(['up', 'copy', '--from', 'web']);
      assert.equal(result.exitCode, 2, String(result.stderr));
      assert.match(String(result.stderr), /web is running: its disk changes under the copy/);
      assert.match(String(result.stderr), /box halt web/);
      assert.equal(existsSync(machineDir('copy')), false);
    } finally {
      process.kill(pid, 'SIGKILL');
      await waitForExit(pid, 5000);
    }
  });

  test('--from a suspended machine without a snapshot is refused (its writes are in its saved RAM); nothing of the clone is made', async () => {
    await recordHaltedMachine('web').catch(() => undefined);
    await markSuspended('web');
    const result = await run(['up', 'copy', '--from', 'web', '--json']);
    assert.equal(result.exitCode, 2, String(result.stderr));
    const {error} = JSON.parse(String(result.stdout));
    assert.equal(error.code, 'ERR_CLONE_SOURCE_RUNNING');
    assert.match(error.message, /web is suspended: its disk is that of a running guest/);
    assert.match(error.hint, /box resume web.*box halt web.*--from web@SNAPSHOT/);
    assert.equal(existsSync(machineDir('copy')), false);
    assert.equal(existsSync(path.join(machineDir('web'), 'suspend.state')), true);
    await rm(machineDir('web'), {recursive: true, force: true});
  });

  test('--from across targets: not supported yet, before anything is made', async () => {
    const mixed = await tempDir('box-clone-mixed-');
    try {
      await writeFile(path.join(mixed.dir, 'Boxfile'), YAML.stringify({basebox: 'debian-12-minimal', target: 'virtualbox', machines: {web: {}, copy: {target: 'qemu'}}}));
      const result = await run(['up', 'copy', '--from', 'web'], mixed.dir);
      assert.equal(result.exitCode, 2, String(result.stderr));
      assert.match(String(result.stderr), /web is on the virtualbox target and copy on qemu: --from is not supported yet across targets/);
      assert.equal(existsSync(path.join(mixed.dir, '.box', 'machines', 'copy')), false);
    } finally {
      await mixed.cleanup();
    }
  });
});
