/**
 * `box package` on qemu without a guest: the steps around the guest (a recording provider and
 * guest reset) with a real disk, real qemu-img and box's real box writer. What a failure or a
 * Ctrl-C must leave: no box, no temp file, and a machine whose own key is back when its guest
 * was reset while it still ran.
 */
import assert from 'node:assert/strict';
import {existsSync} from 'node:fs';
import {mkdir, readdir, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {execa} from 'execa';
import {BoxError} from '../../../src/core/errors.js';
import {machineDir} from '../../../src/core/paths.js';
import {readMachineState} from '../../../src/core/state.js';
import {Ui} from '../../../src/core/ui.js';
import {packageQemuMachine} from '../../../src/providers/qemu/package.js';
import {tempDir} from '../../helpers/cli.js';
import {recordingPackageContext} from '../../helpers/package-context.js';

describe('box package on qemu: failures and Ctrl-C leave no box and the machine usable', () => {
  let work: Awaited<ReturnType<typeof tempDir>>;
  before(async () => {
    work = await tempDir('box-qemu-package-');
  });
  after(() => work.cleanup());

  /** A recorded machine on a real qcow2 holding `dataMiB` of random data, and a provider that records what it is asked. */
  async function machineOn(name: string, dataMiB: number) {
    const dir = machineDir(work.dir, name);
    await mkdir(dir, {recursive: true});
    const disk = path.join(dir, 'disk.qcow2');
    await execa('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '1G']);
    if (dataMiB > 0) await execa('sh', ['-c', `head -c ${dataMiB}M /dev/urandom > ${dir}/raw && qemu-img convert -f raw -O qcow2 ${dir}/raw ${disk} && rm ${dir}/raw`]);
    await writeFile(path.join(dir, 'state.json'), JSON.stringify({
      machine: name, target: 'qemu', createdAt: new Date().toISOString(), provisioned: true, upCompleted: true,
      provider: {phase: 'created', disk, baseImage: disk, baseFormat: 'qcow2', forwardedPorts: [], keyInserted: true, sshPort: 2222},
    }));
    return recordingPackageContext('qemu', work.dir, name, dir);
  }

  const leftovers = async () => (await readdir(work.dir)).filter((f) => f.startsWith('out.box'));

  test('a running machine: reset, halted, compressed, packaged as a libvirt box', async () => {
    const {ctx, provider, calls} = await machineOn('ok', 0);
    const resets: string[] = [];
    const output = path.join(work.dir, 'ok.box');
    const packaged = await packageQemuMachine(provider, ctx, {outputPath: output}, async (info) => { resets.push(info.privateKeyPath); });
    assert.deepEqual(calls, ['halt']);
    assert.equal(resets.length, 1, 'the guest was reset once, with the machine key');
    assert.equal(packaged.halted, true);
    assert.deepEqual({format: packaged.metadata.format, virtual_size: packaged.metadata.virtual_size}, {format: 'qcow2', virtual_size: 1});
    const listed = String((await execa('tar', ['-tf', output])).stdout).split('\n');
    assert.deepEqual(listed, ['metadata.json', 'box.img', 'Vagrantfile']);
    assert.equal((await readMachineState(work.dir, 'ok'))!.provider.keyInserted, false, 'its next up swaps its key again');
  });

  test('while compressing, qemu-img\'s percentage drives the progress UI as bytes of the disk read, ending at its virtual size', async () => {
    const {ctx, provider} = await machineOn('progress', 64);
    const updates: Array<{transferred: number; total?: number}> = [];
    const summaries: Array<string | undefined> = [];
    const labels: string[] = [];
    ctx.ui.progress = (label: string) => {
      labels.push(label);
      return {update: (p) => updates.push(p), done: (summary) => summaries.push(summary)};
    };
    await packageQemuMachine(provider, ctx, {outputPath: path.join(work.dir, 'progress.box')}, async () => undefined);
    assert.deepEqual(labels, ['compress']);
    assert.ok(updates.length >= 2, `${updates.length} updates`);
    // machineOn's disk is the 64 MiB of data it was converted from.
    assert.ok(updates.every((u) => u.total === 64 * 1024 ** 2), 'out of the 64 MiB virtual disk');
    assert.ok(updates.every((u, i) => i === 0 || u.transferred > updates[i - 1]!.transferred), 'rising, once per new percentage');
    assert.equal(updates.at(-1)!.transferred, 64 * 1024 ** 2, 'ends at 100%');
    assert.equal(summaries.length, 1);
    assert.match(String(summaries[0]), /^box\.img: [\d.]+ MiB qcow2 \(zstd\) from 64\.0 MiB of disk$/);
  });

  test('the progress bar is drawn on a terminal only: a pipe gets the summary line alone', async () => {
    for (const isTTY of [true, false]) {
      const {ctx, provider} = await machineOn(`draw-${isTTY}`, 32);
      let written = '';
      const stream = {isTTY, columns: 120, write: (text: string) => { written += text; return true; }, cursorTo: () => true, clearLine: () => true, moveCursor: () => true, on: () => stream, removeListener: () => stream} as unknown as NodeJS.WriteStream;
      const ui = new Ui({stream});
      ui.stage = () => undefined;
      await packageQemuMachine(provider, {...ctx, ui}, {outputPath: path.join(work.dir, `draw-${isTTY}.box`)}, async () => undefined);
      assert.match(written, /box\.img: .* qcow2 \(zstd\) from 32\.0 MiB of disk\n/);
      if (isTTY) assert.match(written, /compress \[.*\] +\d+% .*\/32\.0 MiB .*\/s ETA/, 'a bar with bytes, speed and ETA');
      else assert.doesNotMatch(written, /compress \[|\d+% /, 'no bar on a pipe');
    }
  });

  test('Ctrl-C while compressing: no box and no temp file; the machine stays halted and its next up swaps the key', async () => {
    const {ctx, provider, calls, controller, ui} = await machineOn('cut', 256);
    ui.stage = (name: string) => { if (name === 'compress') setTimeout(() => controller.abort(), 100); };
    const output = path.join(work.dir, 'out.box');
    await assert.rejects(packageQemuMachine(provider, ctx, {outputPath: output}, async () => undefined), (error: BoxError) => error.code === 'ERR_INTERRUPTED');
    assert.deepEqual(await leftovers(), []);
    assert.deepEqual(calls, ['halt']);
    assert.equal((await readMachineState(work.dir, 'cut'))!.provider.keyInserted, false);
  });

  test('a guest reset that fails while the machine runs: its own key is put back (an up of the running machine), nothing is written', async () => {
    const {ctx, provider, calls} = await machineOn('fails', 0);
    const output = path.join(work.dir, 'out.box');
    await assert.rejects(packageQemuMachine(provider, ctx, {outputPath: output}, async () => { throw new BoxError('ERR_PACKAGE_GUEST', 'sudo refused'); }), /sudo refused/);
    assert.deepEqual(calls, ['up'], 'up of the running machine replaces the insecure key again');
    assert.deepEqual(await leftovers(), []);
  });

  test('a halted machine is booted for the reset, and halted again when the package fails', async () => {
    const {ctx, provider, calls} = await machineOn('halted', 0);
    await provider.halt(ctx, {force: false, timeoutSeconds: 1});
    calls.length = 0;
    await assert.rejects(packageQemuMachine(provider, ctx, {outputPath: path.join(work.dir, 'out.box')}, async () => { throw new BoxError('ERR_PACKAGE_GUEST', 'no sudo'); }), /no sudo/);
    assert.deepEqual(calls, ['up', 'up', 'halt'], 'booted, own key back, halted again');
    assert.equal(existsSync(path.join(work.dir, 'out.box')), false);
  });
});
