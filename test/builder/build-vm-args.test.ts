/**
 * The build VM's QEMU arguments come from the machine argument builder (providers/qemu/args.ts),
 * so a build folder whose path holds a comma works: QEMU reads "a,b" in an option value as two
 * options unless the comma is written twice. Checked against a real, paused (-S) QEMU.
 */
import assert from 'node:assert/strict';
import {mkdir, readdir, readlink, stat, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {execa} from 'execa';
import {buildVmArgs} from '../../src/builder/methods/iso/vm.js';
import type {BuildState} from '../../src/builder/methods/index.js';
import type {IsoData} from '../../src/builder/methods/iso/state.js';
import {pidAlive, waitForExit} from '../../src/core/processes.js';
import {readPidFile} from '../../src/providers/qemu/process.js';
import {freePort} from '../../src/providers/shared/ports.js';
import {tempDir} from '../helpers/cli.js';

let work: Awaited<ReturnType<typeof tempDir>>;
let pid: number | undefined;

before(async () => {
  work = await tempDir('box-build-vm-args-');
});

after(async () => {
  if (pid && pidAlive(pid)) {
    process.kill(pid, 'SIGKILL');
    await waitForExit(pid, 5000);
  }
  await work.cleanup();
});

function stateFor(diskInterface: 'virtio' | 'sata' | 'ide'): BuildState {
  const definition = {cpus: 1, memory: '64M', ssh: {port: 22}, net_device: 'virtio-net-pci', disk_interface: diskInterface};
  return {template: {name: 'comma-test', definition}} as unknown as BuildState;
}

describe('build VM arguments', () => {
  test('every option-list path is escaped for QEMU on every disk bus', () => {
    const d: IsoData = {httpIp: '10.0.2.2', vmDir: '/w/a,b/vm', disk: '/w/a,b/vm/disk.qcow2', qmpSocket: '/w/a,b/vm/qmp.sock', serialLog: '/w/a,b/vm/serial.log', sshPort: 40_022, isoPath: '/c,d/os.iso', answerCd: '/w/a,b/answers.iso'};
    for (const bus of ['virtio', 'sata', 'ide'] as const) {
      const args = buildVmArgs(stateFor(bus), d, 'tcg');
      const values = args.filter((a) => a.includes('/w/') || a.includes('/c,'));
      assert.ok(values.some((v) => v.startsWith('file=/w/a,,b/vm/disk.qcow2,')), `${bus}: the disk (${values.join(' ')})`);
      assert.ok(values.includes('file=/c,,d/os.iso,media=cdrom,readonly=on'), `${bus}: the ISO`);
      assert.ok(values.includes('file=/w/a,,b/answers.iso,media=cdrom,readonly=on'), `${bus}: the answer CD`);
      assert.ok(values.includes('unix:/w/a,,b/vm/qmp.sock,server=on,wait=off'), `${bus}: the QMP socket`);
      assert.ok(values.includes('file:/w/a,b/vm/serial.log'), `${bus}: the serial log (verbatim: -serial file: is no option list)`);
    }
  });

  test('a build folder whose path holds a comma starts QEMU with the disk, ISO, answer CD, QMP socket and serial log it names', async () => {
    const vmDir = path.join(work.dir, 'a,b', 'vm');
    await mkdir(vmDir, {recursive: true});
    const disk = path.join(vmDir, 'disk.qcow2');
    await execa('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '16M']);
    const isoPath = path.join(work.dir, 'a,b', 'os.iso');
    const answerCd = path.join(work.dir, 'a,b', 'answers.iso');
    await writeFile(isoPath, Buffer.alloc(2048 * 16));
    await writeFile(answerCd, Buffer.alloc(2048 * 16));
    const d: IsoData = {httpIp: '10.0.2.2', vmDir, disk, isoPath, answerCd, qmpSocket: path.join(vmDir, 'qmp.sock'), serialLog: path.join(vmDir, 'serial.log'), sshPort: await freePort()};
    const args = buildVmArgs(stateFor('virtio'), d, 'tcg');
    // Paused (-S: no guest code runs) and daemonized, so the test only looks at what QEMU opened.
    await execa('qemu-system-x86_64', [...args, '-S', '-daemonize'], {env: {LANG: 'C'}, timeout: 60_000});
    pid = await readPidFile(path.join(vmDir, 'qemu.pid'));
    assert.ok(pid !== undefined, 'QEMU wrote its pid file into the comma folder');
    const fds = await readdir(`/proc/${pid}/fd`);
    const open = await Promise.all(fds.map((fd) => readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')));
    for (const file of [disk, isoPath, answerCd, d.serialLog!]) assert.ok(open.includes(file), `QEMU holds ${file} open (${open.join(', ')})`);
    assert.ok((await stat(d.qmpSocket!)).isSocket(), 'the QMP socket is where box looks for it');
  });
});
