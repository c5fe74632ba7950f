import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {execa} from 'execa';
import {readdir, readFile, symlink, writeFile, mkdir} from 'node:fs/promises';
import path from 'node:path';
import {packageLibvirtBox, packageVirtualboxBox, writeCatalog} from '../../src/boxes/package.js';
import {box, boxJson, tempDir} from '../helpers/cli.js';

// Real Vagrant (Debian's vagrant 2.3.4 + vagrant-libvirt) against our packaging and our store,
// with VAGRANT_HOME and BOX_HOME in a temp folder. Nothing here boots a guest.
let work: {dir: string; cleanup: () => Promise<void>};
let vagrantHome: string;
let boxHome: string;
let image: string;

async function vagrant(args: string[], home = vagrantHome): Promise<string> {
  const result = await execa('vagrant', args, {
    cwd: work.dir,
    // VAGRANT_VAGRANTFILE: a name no folder has, so a stray Vagrantfile above the temp dir is never loaded.
    env: {VAGRANT_HOME: home, VAGRANT_CHECKPOINT_DISABLE: '1', VAGRANT_NO_COLOR: '1', VAGRANT_VAGRANTFILE: 'Vagrantfile.box-test-none'},
    reject: false,
    timeout: 120_000,
  });
  assert.equal(result.exitCode, 0, `vagrant ${args.join(' ')} failed:\n${result.stdout}\n${result.stderr}`);
  return String(result.stdout);
}

async function tree(root: string): Promise<string[]> {
  const entries = await readdir(root, {recursive: true});
  return entries.map((e) => String(e)).sort();
}

before(async () => {
  work = await tempDir('box-vagrant-');
  vagrantHome = path.join(work.dir, 'vagrant.d');
  boxHome = path.join(work.dir, 'box-home');
  image = path.join(work.dir, 'disk.qcow2');
  await execa('qemu-img', ['create', '-q', '-f', 'qcow2', image, '3G']);
});

after(async () => {
  await work.cleanup();
});

describe('compatibility with real Vagrant', () => {
  test('a box made by packageLibvirtBox is accepted by vagrant box add and listed', async () => {
    const out = path.join(work.dir, 'ours.box');
    const packaged = await packageLibvirtBox({imagePath: image, outputPath: out});
    assert.equal(packaged.path, out);
    assert.match(packaged.sha256, /^[0-9a-f]{64}$/);
    // virtual_size comes from qemu-img info (3 GiB image).
    const {stdout} = await execa('tar', ['-xOf', out, 'metadata.json']);
    assert.deepEqual(JSON.parse(stdout), {provider: 'libvirt', format: 'qcow2', virtual_size: 3});
    const {stdout: names} = await execa('tar', ['-tf', out]);
    assert.deepEqual(names.split('\n'), ['metadata.json', 'box.img', 'Vagrantfile']);

    // Vagrant stores direct box files as version 0 (it refuses --box-version for them).
    await vagrant(['box', 'add', '--name', 'acme/ours', out]);
    assert.match(await vagrant(['box', 'list']), /^acme\/ours\s+\(libvirt, 0\)$/m);
  });

  test('a virtualbox box made by packageVirtualboxBox is accepted by vagrant box add and listed', async () => {
    const out = path.join(work.dir, 'ours-vbox.box');
    await packageVirtualboxBox({imagePath: image, outputPath: out, name: 'ours', hardware: {diskController: 'ide', nic: 'virtio'}});
    const {stdout: names} = await execa('tar', ['-tf', out]);
    assert.deepEqual(names.split('\n'), ['metadata.json', 'box.ovf', 'box-disk001.vmdk']);
    // Its own VAGRANT_HOME: the store-layout comparison below covers the libvirt boxes only.
    const home = path.join(work.dir, 'vagrant-vbox.d');
    await vagrant(['box', 'add', '--name', 'acme/ours-vbox', out], home);
    assert.match(await vagrant(['box', 'list'], home), /^acme\/ours-vbox\s+\(virtualbox, 0\)$/m);
    // Vagrant's store holds the appliance as VirtualBox will import it.
    const stored = path.join(home, 'boxes', 'acme-VAGRANTSLASH-ours-vbox', '0', 'virtualbox');
    assert.deepEqual((await readdir(stored)).sort(), ['box-disk001.vmdk', 'box.ovf', 'metadata.json']);
    assert.match(await readFile(path.join(stored, 'box.ovf'), 'utf8'), /<rasd:ResourceSubType>PIIX4<\/rasd:ResourceSubType>/);
  });

  test('a catalog written by writeCatalog is accepted by vagrant box add CATALOG.json', async () => {
    const out = path.join(work.dir, 'cat', 'cat-1.2.0.box');
    await mkdir(path.dirname(out), {recursive: true});
    const packaged = await packageLibvirtBox({imagePath: image, outputPath: out, virtualSizeGiB: 5, gzip: true});
    const catalog = path.join(work.dir, 'cat', 'catalog.json');
    // Vagrant 2.3 does not resolve relative urls, so this catalog uses an absolute file:// url.
    await writeCatalog({name: 'acme/cat', version: '1.2.0', provider: 'libvirt', url: `file://${out}`, sha256: packaged.sha256}, catalog);
    await vagrant(['box', 'add', `file://${catalog}`]);
    assert.match(await vagrant(['box', 'list']), /^acme\/cat\s+\(libvirt, 1\.2\.0\)$/m);
  });

  test('a libvirt box made by hand with tar czf is accepted by box box add and listed', async () => {
    const hand = path.join(work.dir, 'hand');
    await mkdir(hand);
    await execa('qemu-img', ['create', '-q', '-f', 'qcow2', path.join(hand, 'box.img'), '2G']);
    await writeFile(path.join(hand, 'metadata.json'), '{"provider": "libvirt", "format": "qcow2", "virtual_size": 2}\n');
    await writeFile(path.join(hand, 'Vagrantfile'), 'Vagrant.configure("2") do |config|\n  config.vm.provider :libvirt do |l|\n    l.driver = "kvm"\n  end\nend\n');
    const boxFile = path.join(work.dir, 'hand.box');
    await execa('tar', ['czf', boxFile, 'metadata.json', 'box.img', 'Vagrantfile'], {cwd: hand});

    const added = await boxJson(['box', 'add', 'acme/ours', path.join(work.dir, 'ours.box')], {boxHome});
    assert.equal(added.result.exitCode, 0, String(added.result.stderr));
    const hand1 = await boxJson(['box', 'add', 'acme/hand', boxFile], {boxHome});
    assert.equal(hand1.result.exitCode, 0, String(hand1.result.stderr));
    assert.equal(hand1.json.provider, 'libvirt');
    const list = await box(['box', 'list'], {boxHome});
    assert.match(String(list.stdout), /^acme\/hand\s+0\s+libvirt\s+\d/m);
    await vagrant(['box', 'add', '--name', 'acme/hand', boxFile]);
  });

  test('box box add of the same catalog and boxes gives the same store layout as Vagrant', async () => {
    const catalog = await boxJson(['box', 'add', `file://${path.join(work.dir, 'cat', 'catalog.json')}`], {boxHome});
    assert.equal(catalog.result.exitCode, 0, String(catalog.result.stderr));
    const ours = await tree(path.join(boxHome, 'boxes'));
    const theirs = await tree(path.join(vagrantHome, 'boxes'));
    assert.deepEqual(ours, theirs);
    assert.ok(ours.includes(path.join('acme-VAGRANTSLASH-cat', '1.2.0', 'libvirt', 'box.img')));
    assert.equal(
      await readFile(path.join(boxHome, 'boxes', 'acme-VAGRANTSLASH-cat', 'metadata_url'), 'utf8'),
      await readFile(path.join(vagrantHome, 'boxes', 'acme-VAGRANTSLASH-cat', 'metadata_url'), 'utf8'),
    );
  });

  test('vagrant box list reads a store written by box', async () => {
    const home = path.join(work.dir, 'vagrant-on-our-store');
    await mkdir(home);
    await symlink(path.join(boxHome, 'boxes'), path.join(home, 'boxes'));
    const listed = await vagrant(['box', 'list'], home);
    assert.match(listed, /^acme\/cat\s+\(libvirt, 1\.2\.0\)$/m);
    assert.match(listed, /^acme\/hand\s+\(libvirt, 0\)$/m);
    assert.match(listed, /^acme\/ours\s+\(libvirt, 0\)$/m);
  });
});
