/**
 * A box image changed in the store after it was added (a backing file inserted into its qcow2
 * header) must not make QEMU open that file. At the QEMU level: the real argument builder's
 * disk arguments start a real (paused, never booted) QEMU whose open files are checked in
 * /proc; the same overlay opened the old way is the control that shows the check can fail.
 * At the command level: `box up` refuses the tampered box before QEMU runs.
 */
import assert from 'node:assert/strict';
import {readlink, readdir, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {execa} from 'execa';
import {buildQemuArgs, diskArgs, type LaunchSpec} from '../../../src/providers/qemu/args.js';
import {createOverlay} from '../../../src/providers/qemu/qemu-img.js';
import {pidAlive, waitForExit} from '../../../src/core/processes.js';
import {readPidFile} from '../../../src/providers/qemu/process.js';
import {box, boxJson, tempDir} from '../../helpers/cli.js';
import {libvirtMetadata, makeTar, noise, qcow2Image, writeBox} from '../../fixtures/boxes/make-box.js';

let work: Awaited<ReturnType<typeof tempDir>>;
const started: number[] = [];
let secret: string;
let base: string;

before(async () => {
  work = await tempDir('box-base-image-');
  secret = path.join(work.dir, 'host-secret');
  await writeFile(secret, noise(1024 * 1024, 'secret'));
  // A clean box image, then tampered the way an attacker with write access to the store would.
  base = path.join(work.dir, 'box.img');
  await writeFile(base, qcow2Image({sizeBytes: 1024 * 1024}));
  await execa('qemu-img', ['rebase', '-u', '-b', secret, '-F', 'raw', base]);
});

after(async () => {
  for (const pid of started) {
    if (pidAlive(pid)) {
      process.kill(pid, 'SIGKILL');
      await waitForExit(pid, 5000);
    }
  }
  await work.cleanup();
});

/** Starts QEMU paused (-S: no guest runs) with `args`, returns the files it holds open. */
async function openFiles(name: string, args: string[]): Promise<string[]> {
  const pidFile = path.join(work.dir, `${name}.pid`);
  await execa('qemu-system-x86_64', [...args, '-pidfile', pidFile, '-daemonize'], {env: {LANG: 'C'}, timeout: 60_000});
  const pid = await readPidFile(pidFile);
  assert.ok(pid !== undefined, 'QEMU wrote its pid');
  started.push(pid);
  const fds = await readdir(`/proc/${pid}/fd`);
  const targets = await Promise.all(fds.map((fd) => readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')));
  process.kill(pid, 'SIGKILL');
  await waitForExit(pid, 5000);
  return targets;
}

const machine = ['-machine', 'q35', '-accel', 'tcg', '-m', '64', '-S', '-display', 'none', '-monitor', 'none', '-nodefaults'];

describe('QEMU never opens a file named inside a box image', () => {
  test('a backing file inserted into the store\'s box.img is not opened by the machine\'s QEMU', async () => {
    const overlay = path.join(work.dir, 'disk.qcow2');
    await createOverlay(base, overlay, {baseFormat: 'qcow2', sizeBytes: 1024 * 1024});
    const spec: LaunchSpec = {
      name: 'box-test-base', machineType: 'q35', accel: 'tcg', cpus: 1, memoryMiB: 64, disk: overlay,
      qmpSocket: path.join(work.dir, 'qmp.sock'), pidFile: path.join(work.dir, 'unused.pid'), serialLog: path.join(work.dir, 'serial.log'),
      sshPort: 1, forwardedPorts: [], base: {file: base, format: 'qcow2'}, extraArgs: [],
    };
    const args = buildQemuArgs(spec);
    const start = args.indexOf('-blockdev');
    const disk = args.slice(start, args.indexOf('-netdev'));
    const protectedFiles = await openFiles('protected', [...machine, ...disk]);
    assert.ok(protectedFiles.includes(overlay), `QEMU opened the overlay (${protectedFiles.join(', ')})`);
    assert.ok(protectedFiles.includes(base), 'and the box image');
    assert.ok(!protectedFiles.includes(secret), 'but never the host file the box image names');

    // Control: an overlay of the same image attached without the base node follows the chain to
    // the file (its own overlay: the first QEMU's image locks may outlive its pid for a moment).
    const control = path.join(work.dir, 'control.qcow2');
    await createOverlay(base, control, {baseFormat: 'qcow2', sizeBytes: 1024 * 1024});
    const unprotected = await openFiles('unprotected', [...machine, ...diskArgs(control, 'virtio')]);
    assert.ok(unprotected.includes(secret), 'without the base node QEMU opens the host file (the check above can fail)');
  });

  test('the sata and ide disk arguments point the overlay at the base node too', () => {
    for (const bus of ['sata', 'ide'] as const) {
      const args = diskArgs('/m/disk.qcow2', bus, {file: '/s/box.img', format: 'qcow2'});
      assert.deepEqual(JSON.parse(args[1]), {driver: 'qcow2', 'node-name': 'box-base', 'read-only': true, backing: null, file: {driver: 'file', filename: '/s/box.img', 'read-only': true}});
      assert.ok(args.some((a) => a.startsWith('file=/m/disk.qcow2,') && a.endsWith(',backing=box-base')), bus);
    }
  });
});

describe('box up refuses a box image changed after it was added', () => {
  test('a backing file inserted into box.img in the store fails up with ERR_BOX_UNSAFE_IMAGE, and no QEMU runs', async () => {
    const home = path.join(work.dir, 'home');
    const project = path.join(work.dir, 'project');
    await execa('mkdir', ['-p', project]);
    const file = await writeBox(path.join(work.dir, 'clean.box'), await makeTar([{name: 'metadata.json', content: libvirtMetadata}, {name: 'box.img', content: qcow2Image()}]));
    const added = await boxJson(['box', 'add', 'tampered', file], {boxHome: home});
    assert.equal(added.result.exitCode, 0, String(added.result.stderr));
    await execa('qemu-img', ['rebase', '-u', '-b', secret, '-F', 'raw', path.join(added.json.dir, 'box.img')]);
    await writeFile(path.join(project, 'Boxfile'), 'basebox: tampered\ntarget: qemu\ntargets:\n  qemu: {memory: 256, accel: tcg}\n');
    const {result, json} = await boxJson(['up'], {cwd: project, boxHome: home, timeoutMs: 120_000});
    assert.equal(result.exitCode, 1, String(result.stderr));
    assert.equal(json.error.code, 'ERR_BOX_UNSAFE_IMAGE');
    assert.match(json.error.message, /it is a qcow2 overlay whose backing file is ".*host-secret": QEMU would read that file from this host/);
    const status = await box(['status'], {cwd: project, boxHome: home});
    assert.match(String(status.stdout), /default\s+not-created/, 'the failed first up removed what it made');
  });
});
