/**
 * Boxes made the Vagrant way, brought up by box on a REAL guest (TCG, 384 MiB):
 * - a box shaped exactly like `vagrant package` output of a vagrant-libvirt machine: the test
 *   box booted once, its authorized_keys replaced by a key generated as Vagrant 2.3.4 does,
 *   halted, flattened with qemu-img convert, packed by bsdtar with vagrant-libvirt's
 *   metadata.json and Vagrantfile and Vagrant's vagrant_private_key + private_key_path block,
 *   and without box's first-boot unit (as a Vagrant-made box is): box hands it the key through
 *   fw_cfg, the guest says nothing, and box swaps the key over SSH (the fallback path);
 * - a box whose kernel, initrd and command line are set only in its Vagrantfile.
 * The preparation (one boot) is shared; each case then adds its box and brings it up.
 */
import assert from 'node:assert/strict';
import {mkdir, readFile, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {execa} from 'execa';
import {box, boxJson, tempDir} from '../helpers/cli.js';
import {takeE2eSlot} from '../helpers/e2e-slot.js';
import {addTestBox, ensureTestBox, TEST_BOX_NAME} from '../helpers/test-box.js';
import {libvirtPackageMetadata, packLikeVagrant, vagrantGeneratedKey, writeLibvirtPackageFolder} from '../fixtures/boxes/vagrant-package.js';

const boxfile = (basebox: string): string => `basebox: ${basebox}\ntarget: qemu\ntargets:\n  qemu: {memory: 384, cpus: 2}\nssh: {timeout: 180}\n`;

describe('boxes made the Vagrant way come up in box', {timeout: 30 * 60_000}, () => {
  let release: () => Promise<void>;
  let work: Awaited<ReturnType<typeof tempDir>>;
  const projects: string[] = [];
  let packagedBox: string;
  let kernelBox: string;
  let generated: {privateKeyPath: string; publicKey: string};
  const marker = 'box.test=kernel-from-vagrantfile';
  const home = (): string => path.join(work.dir, 'home');

  async function project(name: string, basebox: string): Promise<string> {
    const dir = path.join(work.dir, name);
    await mkdir(dir, {recursive: true});
    await writeFile(path.join(dir, 'Boxfile'), boxfile(basebox));
    projects.push(dir);
    return dir;
  }

  const run = (cwd: string, args: string[], timeoutMs = 300_000) => box(args, {cwd, boxHome: home(), timeoutMs});

  before(async () => {
    release = await takeE2eSlot();
    const testBox = await ensureTestBox();
    work = await tempDir('box-e2e-vagrant-');
    await addTestBox(home());

    // 1. The machine `vagrant package` would package: booted once, with the key Vagrant generated for it.
    const source = await project('source', TEST_BOX_NAME);
    const up = await run(source, ['up']);
    assert.equal(up.exitCode, 0, `${up.stdout}\n${up.stderr}`);
    generated = await vagrantGeneratedKey(work.dir);
    // A box made by Vagrant has no box-first-boot unit: box must swap its key over SSH.
    const setKey = await run(source, ['ssh', '-c', `printf '%s\\n' '${generated.publicKey}' > ~/.ssh/authorized_keys && sudo -n rm /etc/systemd/system/box-first-boot.service /etc/systemd/system/multi-user.target.wants/box-first-boot.service && sync`]);
    assert.equal(setKey.exitCode, 0, String(setKey.stderr));
    const halt = await run(source, ['halt']);
    assert.equal(halt.exitCode, 0, String(halt.stderr));

    // 2. Its disk flattened (vagrant-libvirt rebases it onto nothing), packed as Vagrant packs.
    const pkg = path.join(work.dir, 'package');
    await mkdir(pkg);
    await execa('qemu-img', ['convert', '-O', 'qcow2', path.join(source, '.box', 'machines', 'default', 'disk.qcow2'), path.join(pkg, 'box.img')]);
    await writeLibvirtPackageFolder(pkg, {virtualSizeGiB: 10, privateKey: await readFile(generated.privateKeyPath, 'utf8')});
    packagedBox = path.join(work.dir, 'package.box');
    await packLikeVagrant(pkg, packagedBox);
    const destroyed = await run(source, ['destroy', '--force']);
    assert.equal(destroyed.exitCode, 0, String(destroyed.stderr));

    // 3. A box whose kernel is set only in its Vagrantfile: the test box's disk, vmlinuz and
    //    initrd, with vagrant-libvirt's plain metadata (no kernel fields).
    const kb = path.join(work.dir, 'kernel-box');
    await mkdir(kb);
    await execa('tar', ['-xf', testBox.boxPath, '-C', kb, 'box.img', 'vmlinuz', 'initrd.img', 'metadata.json']);
    const cmdline = (JSON.parse(await readFile(path.join(kb, 'metadata.json'), 'utf8')) as {cmdline: string}).cmdline;
    await writeFile(path.join(kb, 'metadata.json'), libvirtPackageMetadata(10));
    await writeFile(path.join(kb, 'Vagrantfile'), `Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |libvirt|
    libvirt.kernel = File.expand_path("../vmlinuz", __FILE__)
    libvirt.initrd = File.expand_path("../initrd.img", __FILE__)
    libvirt.cmd_line = "${cmdline} ${marker}"
  end
end
`);
    kernelBox = path.join(work.dir, 'kernel.box');
    await packLikeVagrant(kb, kernelBox);
  });

  after(async () => {
    for (const dir of projects) await box(['destroy', '--force'], {cwd: dir, boxHome: home()}).catch(() => undefined);
    await work?.cleanup();
    await release?.();
  });

  test('the vagrant package box is added without warnings and comes up with its packed key, which is then replaced by the machine key', async () => {
    const {result: added, json} = await boxJson(['box', 'add', 'acme/packaged', packagedBox], {boxHome: home(), timeoutMs: 300_000});
    assert.equal(added.exitCode, 0, `${added.stdout}\n${added.stderr}`);
    assert.deepEqual(json.warnings, []);
    const dir = await project('packaged', 'acme/packaged');
    const {result: up, json: upJson} = await boxJson(['up'], {cwd: dir, boxHome: home(), timeoutMs: 300_000});
    assert.equal(up.exitCode, 0, `${up.stdout}\n${up.stderr}`);
    // Handed the key through fw_cfg, a guest without box's unit says nothing: the SSH round swaps it.
    assert.equal(typeof upJson.machines[0].timings.insertKey, 'number', JSON.stringify(upJson.machines[0].timings));
    assert.equal(upJson.machines[0].timings.keyFromGuest, undefined);
    const keys = await run(dir, ['ssh', '-c', 'cat ~/.ssh/authorized_keys']);
    assert.equal(keys.exitCode, 0, String(keys.stderr));
    const machineKey = (await readFile(path.join(dir, '.box', 'machines', 'default', 'id_ed25519.pub'), 'utf8')).trim().split(/\s+/)[1];
    assert.ok(String(keys.stdout).includes(machineKey), 'the machine key logs in');
    assert.ok(!String(keys.stdout).includes(generated.publicKey.split(/\s+/)[1]), 'the packed key (which every holder of the box has) no longer does');
    assert.equal((await run(dir, ['destroy', '--force'])).exitCode, 0);
  });

  test('a box whose kernel, initrd and command line are set only in its Vagrantfile boots that kernel', async () => {
    const {result: added, json} = await boxJson(['box', 'add', 'acme/kernel', kernelBox], {boxHome: home(), timeoutMs: 300_000});
    assert.equal(added.exitCode, 0, `${added.stdout}\n${added.stderr}`);
    assert.deepEqual(json.warnings, []);
    const dir = await project('kernel', 'acme/kernel');
    const up = await run(dir, ['up']);
    assert.equal(up.exitCode, 0, `${up.stdout}\n${up.stderr}`);
    assert.match(String(up.stderr), /direct kernel boot/);
    const cmdline = await run(dir, ['ssh', '-c', 'cat /proc/cmdline']);
    assert.equal(cmdline.exitCode, 0, String(cmdline.stderr));
    assert.ok(String(cmdline.stdout).includes(marker), `the guest booted with the Vagrantfile's command line: ${cmdline.stdout}`);
    assert.equal((await run(dir, ['destroy', '--force'])).exitCode, 0);
  });
});
