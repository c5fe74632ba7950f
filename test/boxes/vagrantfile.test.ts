import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {existsSync} from 'node:fs';
import {mkdir, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {readBoxVagrantfile} from '../../src/boxes/vagrantfile.js';
import {tempDir} from '../helpers/cli.js';
import {libvirtPackageVagrantfile} from '../fixtures/boxes/vagrant-package.js';

// A box's Vagrantfile is read for the settings box uses, never run (it is untrusted Ruby).
let work: {dir: string; cleanup: () => Promise<void>};
let counter = 0;

before(async () => {
  work = await tempDir('box-vagrantfile-');
});

after(async () => {
  await work.cleanup();
});

/** A box folder holding `files` (name → content), read as a box of `provider`. */
async function read(files: Record<string, string>, provider = 'libvirt') {
  const dir = path.join(work.dir, `box-${counter++}`);
  for (const [name, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), {recursive: true});
    await writeFile(path.join(dir, name), content);
  }
  return {dir, settings: await readBoxVagrantfile(dir, provider)};
}

describe('reading a box\'s Vagrantfile without Ruby', () => {
  test('the Vagrantfile `vagrant package` writes for vagrant-libvirt: the packed key, nothing else to report', async () => {
    const {dir, settings} = await read({Vagrantfile: libvirtPackageVagrantfile, vagrant_private_key: 'key'});
    assert.deepEqual(settings, {ssh: {privateKeyPath: path.join(dir, 'vagrant_private_key')}, libvirt: {}, notUnderstood: []}, 'libvirt.driver is the host\'s business: ignored silently');
  });

  test('a box without a Vagrantfile has no settings', async () => {
    assert.equal((await read({'metadata.json': '{}'})).settings, undefined);
  });

  test('kernel, initrd and command line, hardware, memory, cpus and the SSH user and port, in the shapes box Vagrantfiles use', async () => {
    const {dir, settings} = await read({Vagrantfile: `# -*- mode: ruby -*-
current_dir = File.dirname(__FILE__)
kernel_path = File.join(current_dir, "boot", "vmlinuz")

Vagrant.configure("2") do |config|
  config.ssh.username = 'debian'    # the image's user
  config.ssh.guest_port = 2200
  config.vm.provider "libvirt" do |domain, override|
    domain.kernel = kernel_path
    domain.initrd = File.expand_path("../boot/initrd.img", __FILE__)
    domain.cmd_line = "root=/dev/vda1 ro console=ttyS0 \\"quoted\\""
    domain.memory = 512
    domain.cpus = 1
    domain.disk_bus = :sata
    domain.nic_model_type = "e1000"
    override.ssh.port = 2222
  end
end
`});
    assert.deepEqual(settings, {
      ssh: {username: 'debian', port: 2222},
      libvirt: {
        kernel: path.join(dir, 'boot', 'vmlinuz'), initrd: path.join(dir, 'boot', 'initrd.img'), cmdLine: 'root=/dev/vda1 ro console=ttyS0 "quoted"',
        memoryMiB: 512, cpus: 1, diskBus: 'sata', nicModel: 'e1000',
      },
      notUnderstood: [],
    }, 'config.ssh.port wins over config.ssh.guest_port, as in Vagrant');
  });

  test('what box does not use or cannot read without running Ruby is reported with file and line', async () => {
    const marker = path.join(work.dir, 'ran');
    const {settings} = await read({Vagrantfile: `Vagrant.configure("2") do |config|
  config.vm.synced_folder ".", "/vagrant", disabled: true
  config.vm.synced_folder ".", "/srv"
  config.ssh.username = "#{ENV['USER']}"
  config.vm.provider :libvirt do |lv|
    lv.graphics_type = "spice"
    lv.initrd = "/boot/initrd.img-host"
    lv.nic_model_type = "rtl8139"
    if ENV['BIG']
      lv.memory = 8192
    end
  end
  config.vm.provider :virtualbox do |vb|
    vb.memory = 4096
  end
  system("touch ${marker}")
end
`});
    assert.deepEqual(settings!.ssh, {}, 'an interpolated user name is not a literal');
    assert.deepEqual(settings!.libvirt, {});
    assert.deepEqual(settings!.notUnderstood.map((n) => `${n.file}:${n.line}: ${n.why}`), [
      'Vagrantfile:3: box does not use config.vm.synced_folder',
      'Vagrantfile:4: not a literal value box can read without running Ruby',
      'Vagrantfile:6: box does not use libvirt.graphics_type',
      'Vagrantfile:7: initrd points outside the box (/boot/initrd.img-host); box only uses files inside the box',
      'Vagrantfile:8: box supports the virtio and e1000 NIC models (got "rtl8139")',
      'Vagrantfile:10: it is inside a condition or method box does not evaluate',
      'Vagrantfile:16: box does not run Ruby code',
    ], 'a synced folder disabled, and another provider\'s block, are not worth a warning');
    assert.equal(existsSync(marker), false, 'nothing was executed');
  });

  test('the shell script of a heredoc (if/end inside) does not disturb the settings after it', async () => {
    const {settings} = await read({Vagrantfile: `Vagrant.configure("2") do |config|
  config.vm.provision "shell", inline: <<-SHELL
    if [ -x /usr/bin/apt-get ]; then
      apt-get update
    end
  SHELL
  config.vm.provider :libvirt do |libvirt|
    libvirt.memory = 768
  end
end
`});
    assert.equal(settings!.libvirt.memoryMiB, 768);
    assert.deepEqual(settings!.notUnderstood.map((n) => `${n.line}: ${n.why}`), ['2: box does not use config.vm.provision']);
  });

  test('a packed key outside the box is not used', async () => {
    const {settings} = await read({Vagrantfile: 'Vagrant.configure("2") do |config|\n  config.ssh.private_key_path = ["~/.ssh/id_rsa"]\nend\n'});
    assert.equal(settings!.ssh.privateKeyPath, undefined);
    assert.match(settings!.notUnderstood[0].why, /expected a path inside the box/);
    const abs = await read({Vagrantfile: 'Vagrant.configure("2") do |config|\n  config.ssh.private_key_path = "/root/.ssh/id_rsa"\nend\n'});
    assert.match(abs.settings!.notUnderstood[0].why, /the key \/root\/\.ssh\/id_rsa is outside the box/);
  });

  test('the include file `vagrant package --vagrantfile` adds is read too, after the generated part', async () => {
    const {dir, settings} = await read({
      Vagrantfile: `${libvirtPackageVagrantfile.replace(/\nend\n\n(Vagrant\.configure)/, `\n\n  # Load include vagrant file if it exists after the auto-generated
  # so it can override any of the settings
  include_vagrantfile = File.expand_path("../include/_Vagrantfile", __FILE__)
  load include_vagrantfile if File.exist?(include_vagrantfile)
end

$1`)}`,
      'include/_Vagrantfile': 'Vagrant.configure("2") do |config|\n  config.ssh.username = "admin"\nend\n',
      vagrant_private_key: 'key',
    });
    assert.equal(settings!.ssh.username, 'admin');
    assert.equal(settings!.ssh.privateKeyPath, path.join(dir, 'vagrant_private_key'));
    assert.deepEqual(settings!.notUnderstood, []);
  });

  test('a virtualbox box made by vagrant package: its MAC is ignored; its SSH settings are reported as not used yet', async () => {
    const {settings} = await read({Vagrantfile: `Vagrant::Config.run do |config|
  # This Vagrantfile is auto-generated by \`vagrant package\` to contain
  # the MAC address of the box. Custom configuration should be placed in
  # the actual \`Vagrantfile\` in this box.
  config.vm.base_mac = "080027D14C66"
end

# Load include vagrant file if it exists after the auto-generated
# so it can override any of the settings
include_vagrantfile = File.expand_path("../include/_Vagrantfile", __FILE__)
load include_vagrantfile if File.exist?(include_vagrantfile)

Vagrant.configure("2") do |config|
  config.ssh.private_key_path = File.expand_path("../vagrant_private_key", __FILE__)
end
`, vagrant_private_key: 'key'}, 'virtualbox');
    assert.deepEqual(settings!.ssh, {});
    assert.deepEqual(settings!.notUnderstood.map((n) => n.why), ['box uses config.ssh.private_key_path of libvirt boxes only, not yet of virtualbox boxes']);
  });
});
