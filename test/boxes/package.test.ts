import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {execa} from 'execa';
import {readFile, stat, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {libvirtVagrantfile, packageBox, packageLibvirtBox} from '../../src/boxes/package.js';
import {silentUi} from '../../src/core/ui.js';
import {addBox} from '../../src/boxes/add.js';
import {tempDir} from '../helpers/cli.js';
import {sha256} from '../fixtures/boxes/make-box.js';

let work: {dir: string; cleanup: () => Promise<void>};
let oldHome: string | undefined;

before(async () => {
  work = await tempDir('box-package-');
  oldHome = process.env.BOX_HOME;
  process.env.BOX_HOME = path.join(work.dir, 'home');
});

after(async () => {
  if (oldHome === undefined) delete process.env.BOX_HOME;
  else process.env.BOX_HOME = oldHome;
  await work.cleanup();
});

describe('packaging boxes', () => {
  test('a libvirt tar.gz with extra files and metadata round-trips through box box add', async () => {
    const image = path.join(work.dir, 'disk.qcow2');
    await execa('qemu-img', ['create', '-q', '-f', 'qcow2', image, '1500M']);
    const kernel = path.join(work.dir, 'vmlinuz');
    await writeFile(kernel, 'kernel-bytes');
    const out = path.join(work.dir, 'out', 'x.box');
    const packaged = await packageLibvirtBox({imagePath: image, outputPath: out, extraFiles: {vmlinuz: kernel}, extraMetadata: {kernel: 'vmlinuz', provider: 'ignored'}, gzip: true});
    assert.equal(packaged.sha256, sha256(await readFile(out)), 'the sha256 is that of the written file');
    assert.equal(packaged.size, (await stat(out)).size);
    const header = (await readFile(out)).subarray(0, 2);
    assert.deepEqual([...header], [0x1f, 0x8b], 'gzip was asked for');

    const added = await addBox({source: out, name: 'pkg', checksum: {type: 'sha256', value: packaged.sha256}, ui: silentUi(), signal: new AbortController().signal});
    assert.deepEqual(added.metadata, {provider: 'libvirt', kernel: 'vmlinuz', format: 'qcow2', virtual_size: 2}, '1500 MiB rounds up to 2 GiB; provider cannot be overridden');
    assert.equal(await readFile(path.join(added.dir, 'vmlinuz'), 'utf8'), 'kernel-bytes');
    assert.match(await readFile(path.join(added.dir, 'Vagrantfile'), 'utf8'), /config\.vm\.provider :libvirt/);
    const info = JSON.parse((await execa('qemu-img', ['info', '--output=json', path.join(added.dir, 'box.img')])).stdout);
    assert.equal(info.format, 'qcow2');
  });

  test('the Vagrantfile of a libvirt box leaves the driver to vagrant-libvirt and is valid Ruby', async () => {
    for (const hardware of [undefined, {diskBus: 'sata' as const, nicModel: 'e1000' as const}]) {
      const text = libvirtVagrantfile(hardware);
      assert.doesNotMatch(text, /^\s*[a-z_]+\.driver\s*=/m, 'no driver: a host without KVM needs qemu, vagrant-libvirt and the user decide');
      const file = path.join(work.dir, 'Vagrantfile.check');
      await writeFile(file, text);
      // Debian's ruby (a dependency of vagrant): the box's Vagrantfile must load in Vagrant.
      const check = await execa('ruby', ['-c', file], {reject: false});
      assert.equal(check.exitCode, 0, String(check.stderr));
    }
  });

  test('a libvirt box for a guest without virtio drivers records its disk bus and NIC for box and for vagrant-libvirt', async () => {
    const image = path.join(work.dir, 'win.qcow2');
    await execa('qemu-img', ['create', '-q', '-f', 'qcow2', image, '1G']);
    const out = path.join(work.dir, 'out', 'win.box');
    await packageLibvirtBox({imagePath: image, outputPath: out, hardware: {diskBus: 'sata', nicModel: 'e1000'}});
    const {stdout: metadata} = await execa('tar', ['-xOf', out, 'metadata.json']);
    assert.deepEqual(JSON.parse(metadata), {provider: 'libvirt', format: 'qcow2', virtual_size: 1, disk_bus: 'sata', nic_model: 'e1000'});
    const {stdout: vagrantfile} = await execa('tar', ['-xOf', out, 'Vagrantfile']);
    assert.match(vagrantfile, /libvirt\.disk_bus = "sata"/);
    assert.match(vagrantfile, /libvirt\.nic_model_type = "e1000"/);
  });

  test('packageBox writes a generic box for another provider, and leaves no file when an input is missing', async () => {
    const out = path.join(work.dir, 'aws.box');
    const made = await packageBox({provider: 'aws', metadata: {ami: 'ami-0123'}, files: [{name: 'Vagrantfile', content: '# aws\n'}], outputPath: out});
    const {stdout} = await execa('tar', ['-xOf', made.path, 'metadata.json']);
    assert.deepEqual(JSON.parse(stdout), {provider: 'aws', ami: 'ami-0123'});

    const broken = path.join(work.dir, 'broken.box');
    await assert.rejects(packageBox({provider: 'virtualbox', files: [{name: 'box.ovf', path: path.join(work.dir, 'missing.ovf')}], outputPath: broken}), {code: 'ERR_BOX_PACKAGE'});
    await assert.rejects(stat(broken), {code: 'ENOENT'});
    const {stdout: leftovers} = await execa('ls', ['-a', work.dir]);
    assert.doesNotMatch(leftovers, /broken\.box\.tmp/);
  });
});
