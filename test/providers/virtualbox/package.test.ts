/**
 * `box package` on virtualbox without a guest: the steps around the guest (a recording provider
 * and guest reset), the export by the stateful fake VBoxManage, and box's real box writer. What
 * comes out (the appliance, a Vagrantfile naming NIC 1's MAC, metadata), and what a failed
 * export leaves: no box and no export folder.
 */
import assert from 'node:assert/strict';
import {mkdir, readdir, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {execa} from 'execa';
import {machineDir} from '../../../src/core/paths.js';
import {readMachineState} from '../../../src/core/state.js';
import {packageVirtualboxMachine} from '../../../src/providers/virtualbox/package.js';
import {VBoxManage} from '../../../src/providers/virtualbox/vboxmanage.js';
import {tempDir} from '../../helpers/cli.js';
import {recordingPackageContext} from '../../helpers/package-context.js';
import {fakeCalls, fakeVBoxDir, fakeVms, makeFakeVirtualboxBox} from './fake-vbox.js';

describe('box package on virtualbox (fake VBoxManage): export, box contents, failures', () => {
  let work: Awaited<ReturnType<typeof tempDir>>;
  let ovf: string;
  const vbox = new VBoxManage(path.join(fakeVBoxDir, 'VBoxManage'));
  const saved = {home: process.env.FAKE_VBOX_HOME, boot: process.env.FAKE_VBOX_BOOT};
  before(async () => {
    work = await tempDir('box-vbox-package-');
    process.env.FAKE_VBOX_HOME = path.join(work.dir, 'fake-vbox');
    process.env.FAKE_VBOX_BOOT = 'none';
    const boxFile = await makeFakeVirtualboxBox(path.join(work.dir, 'source.box'));
    await mkdir(path.join(work.dir, 'source'));
    await execa('tar', ['-xf', boxFile, '-C', path.join(work.dir, 'source')]);
    ovf = path.join(work.dir, 'source', 'box.ovf');
  });
  after(async () => {
    for (const [key, value] of [['FAKE_VBOX_HOME', saved.home], ['FAKE_VBOX_BOOT', saved.boot]] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
    await work.cleanup();
  });

  /** A VM imported into the fake, a machine recorded on it, and a provider that records what it is asked. */
  async function machineOn(name: string) {
    const vmName = `box-proj-${name}`;
    await vbox.run(['import', ovf, '--vsys', '0', '--vmname', vmName]);
    const uuid = (await vbox.vmInfo(vmName))!.uuid;
    const dir = machineDir(work.dir, name);
    await mkdir(dir, {recursive: true});
    await writeFile(path.join(dir, 'state.json'), JSON.stringify({
      machine: name, target: 'virtualbox', createdAt: new Date().toISOString(), provisioned: true, upCompleted: true,
      box: {name: 'debian-12-minimal', version: '12.0.0', provider: 'virtualbox', dir: path.dirname(ovf)},
      provider: {phase: 'created', vmName, uuid, ovf, linkedClone: false, sshPort: 2222, forwardedPorts: [], serialLog: path.join(dir, 'serial.log'), keyInserted: true},
    }));
    return {...recordingPackageContext('virtualbox', work.dir, name, dir), vmName, uuid};
  }

  const leftovers = async () => (await readdir(work.dir)).filter((f) => f.startsWith('out.box'));

  test('a running machine: reset, halted, exported, packaged with the appliance, a Vagrantfile naming NIC 1\'s MAC and metadata', async () => {
    const {ctx, provider, calls, vmName, uuid} = await machineOn('ok');
    const resets: string[] = [];
    const output = path.join(work.dir, 'ok.box');
    const packaged = await packageVirtualboxMachine(provider, vbox, ctx, {outputPath: output}, async (info) => { resets.push(info.privateKeyPath); });
    assert.deepEqual(calls, ['halt']);
    assert.equal(resets.length, 1, 'the guest was reset once, with the machine key');
    assert.deepEqual([packaged.provider, packaged.halted, packaged.metadata.provider], ['virtualbox', true, 'virtualbox']);
    assert.deepEqual((packaged.metadata.box_package as {source_box: string}).source_box, 'debian-12-minimal 12.0.0');
    assert.ok(fakeCalls(process.env.FAKE_VBOX_HOME!).some((c) => c.argv[0] === 'export' && c.argv[1] === uuid && c.argv[2] === '--output' && c.argv[3]!.endsWith('/box.ovf')));
    const members = String((await execa('tar', ['-tf', output])).stdout).split('\n').filter(Boolean).map((f) => f.replace(/^\.\//, '')).sort();
    assert.deepEqual(members, ['Vagrantfile', 'box-disk001.vmdk', 'box.ovf', 'metadata.json']);
    const vagrantfile = String((await execa('tar', ['-xOf', output, '--wildcards', '*Vagrantfile'])).stdout);
    const mac = (fakeVms(process.env.FAKE_VBOX_HOME!).find((v) => v.name === vmName) as unknown as {macaddress1: string}).macaddress1;
    assert.match(mac, /^080027[0-9A-F]{6}$/);
    assert.equal(vagrantfile, `Vagrant.configure("2") do |config|\n  config.vm.base_mac = "${mac}"\nend`, 'execa strips the final newline');
    assert.match(String((await execa('tar', ['-xOf', output, '--wildcards', '*box.ovf'])).stdout), /ovf:href="box-disk001\.vmdk"/);
    assert.equal((await readMachineState(work.dir, 'ok'))!.provider.keyInserted, false, 'its next up swaps its key again');
    assert.deepEqual(await leftovers(), [], 'no export folder is left');
  });

  test('an export VirtualBox refuses (the VM still runs): VirtualBox\'s message, no box and no export folder', async () => {
    const {ctx, provider, calls, vmName} = await machineOn('locked');
    // The recording provider's halt does not stop the VM: VirtualBox refuses to export it.
    await vbox.run(['startvm', vmName, '--type', 'headless']);
    const output = path.join(work.dir, 'out.box');
    await assert.rejects(packageVirtualboxMachine(provider, vbox, ctx, {outputPath: output}, async () => undefined), /locked for a session/);
    assert.deepEqual(calls, ['halt']);
    assert.deepEqual(await leftovers(), []);
    await vbox.run(['controlvm', vmName, 'poweroff']);
  });
});
