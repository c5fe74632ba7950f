import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {existsSync, readFileSync} from 'node:fs';
import {mkdir, open, readFile, readdir, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {gunzipSync} from 'node:zlib';
import {execa} from 'execa';
import {diskImageStep, grubConfig, installGrub, kernelCmdline, noInitrdCmdline} from '../../src/builder/methods/debootstrap/disk-image.js';
import {checkDebootstrapHost, GRUB_I386_PC_DIR} from '../../src/builder/methods/debootstrap/host-check.js';
import {debootstrapMethod} from '../../src/builder/methods/debootstrap/index.js';
import {mountsUnder, removeRootfs} from '../../src/builder/methods/debootstrap/mounts.js';
import {runStreamed} from '../../src/builder/methods/debootstrap/stream.js';
import type {BuildState} from '../../src/builder/methods/index.js';
import {loadTemplate} from '../../src/builder/template.js';
import {builtinTemplatesDir} from '../../src/builder/templates-dir.js';
import {BoxError} from '../../src/core/errors.js';
import {silentUi} from '../../src/core/ui.js';
import {tempDir} from '../helpers/cli.js';
import {elfHeader} from '../helpers/elf.js';

// The pieces of the debootstrap method that need no mirror: the disk image (sfdisk + mkfs.ext4
// -d + GRUB) made from a small fake root file system, read back with sfdisk and debugfs.

async function readBytes(file: string, offset: number, length: number): Promise<Buffer> {
  const fd = await open(file, 'r');
  try {
    const buf = Buffer.alloc(length);
    await fd.read(buf, 0, length, offset);
    return buf;
  } finally {
    await fd.close();
  }
}

describe('debootstrap method: disk image', () => {
  let tmp: {dir: string; cleanup: () => Promise<void>};
  before(async () => {
    tmp = await tempDir('box-debootstrap-unit-');
  });
  after(() => tmp.cleanup());

  test('the kernel command line mounts root by UUID read-write and keeps the template\'s extras', () => {
    assert.equal(kernelCmdline('1234', 'console=ttyS0'), 'root=UUID=1234 rw console=ttyS0');
    const cfg = grubConfig('6.1.0-1-cloud-amd64', 'root=UUID=1234 rw');
    assert.match(cfg, /set timeout=0/);
    assert.match(cfg, /serial --unit=0 --speed=115200/);
    assert.match(cfg, /linux \/boot\/vmlinuz-6\.1\.0-1-cloud-amd64 root=UUID=1234 rw/);
    assert.match(cfg, /initrd \/boot\/initrd\.img-6\.1\.0-1-cloud-amd64/);
  });

  test('GRUB goes into the MBR code area and the gap before the partition without touching the partition table', async () => {
    const raw = path.join(tmp.dir, 'grub.raw');
    await execa('truncate', ['-s', '64M', raw]);
    await execa('sfdisk', ['--no-reread', '--no-tell-kernel', '--quiet', raw], {input: 'label: dos\nstart=2048, type=83, bootable\n'});
    const tableBefore = await readBytes(raw, 440, 72);
    const core = path.join(tmp.dir, 'core.img');
    await installGrub(raw, core);
    assert.deepEqual(await readBytes(raw, 440, 72), tableBefore, 'disk signature, partition table and 0x55AA untouched');
    assert.equal((await readBytes(raw, 510, 2)).toString('hex'), '55aa');
    const bootImg = await readFile(path.join(GRUB_I386_PC_DIR, 'boot.img'));
    const mbr = await readBytes(raw, 0, 440);
    assert.deepEqual(mbr.subarray(0, 0x66), bootImg.subarray(0, 0x66));
    assert.equal(mbr.readUInt16LE(0x66), 0x9090, 'drive check enabled as grub-setup does for hard disks');
    assert.deepEqual(mbr.subarray(0x68), bootImg.subarray(0x68, 440));
    const coreBytes = await readFile(core);
    assert.deepEqual(await readBytes(raw, 512, coreBytes.length), coreBytes, 'core.img starts at sector 1');
    assert.ok(coreBytes.length < 1024 * 1024 - 512);
    const table = JSON.parse((await execa('sfdisk', ['--json', raw])).stdout).partitiontable;
    assert.equal(table.partitions[0].start, 2048);
    assert.equal(table.partitions[0].bootable, true);
  });

  test('the image step writes a partitioned disk whose ext4 holds the folder, fstab and grub.cfg, and ships kernel and initrd', async () => {
    const work = path.join(tmp.dir, 'work');
    const rootfs = path.join(work, 'rootfs');
    await mkdir(path.join(rootfs, 'boot'), {recursive: true});
    await mkdir(path.join(rootfs, 'etc'), {recursive: true});
    await writeFile(path.join(rootfs, 'boot', 'vmlinuz-9.9-test'), 'kernel bytes');
    await writeFile(path.join(rootfs, 'boot', 'initrd.img-9.9-test'), 'initrd bytes');
    await writeFile(path.join(rootfs, 'etc', 'hostname'), 'fake\n');
    const template = await loadTemplate(path.join(builtinTemplatesDir, 'debian-12-minimal'), {disk: '1'});
    template.definition.debootstrap!.boot_without_initrd = false; // the layout with an initrd
    template.definition.debootstrap!.direct_boot_initrd = 'initramfs-tools'; // box's own: the next test
    const state: BuildState = {
      template, workDir: work, outputDir: tmp.dir, boxName: 'x', boxVersion: '1', cacheDir: tmp.dir,
      ui: silentUi(), onError: 'cleanup', data: {rootfs, kernelVersion: '9.9-test'},
    };
    await diskImageStep.run(state, new AbortController().signal);
    const artifact = state.artifact!;
    assert.equal(artifact.format, 'raw');
    assert.equal(artifact.virtualSizeGiB, 1);
    assert.equal(await readFile(artifact.extraFiles.vmlinuz, 'utf8'), 'kernel bytes');
    assert.equal(await readFile(artifact.extraFiles['initrd.img'], 'utf8'), 'initrd bytes');
    const cmdline = String(artifact.extraMetadata.cmdline);
    const uuid = /root=UUID=([0-9a-f-]+)/.exec(cmdline)![1];
    assert.match(cmdline, /console=ttyS0,115200/);

    const fs = `${artifact.imagePath}?offset=1048576`;
    const debugfs = async (cmd: string) => (await execa('debugfs', ['-R', cmd, fs])).stdout;
    assert.equal(await debugfs('cat /etc/hostname'), 'fake');
    assert.match(await debugfs('cat /etc/fstab'), new RegExp(`UUID=${uuid} / ext4 rw`));
    assert.match(await debugfs('cat /boot/grub/grub.cfg'), new RegExp(`linux /boot/vmlinuz-9\\.9-test root=UUID=${uuid} rw`));
    assert.match(await debugfs('ls -l /boot/grub/i386-pc'), /normal\.mod/);
    const dumpe2fs = (await execa('dumpe2fs', ['-h', fs])).stdout;
    assert.match(dumpe2fs, new RegExp(`Filesystem UUID:\\s+${uuid}`));
    assert.equal((await readBytes(artifact.imagePath, 510, 2)).toString('hex'), '55aa');

    await diskImageStep.cleanup!(state, 'succeeded');
    assert.equal(existsSync(artifact.imagePath), false);
  });

  test('with direct_boot_initrd: minimal the box ships box\'s own initrd for box up, while the disk\'s GRUB keeps initramfs-tools\' one', async () => {
    const work = path.join(tmp.dir, 'work-minimal');
    const rootfs = path.join(work, 'rootfs');
    const modules = path.join(rootfs, 'lib/modules/9.9-test');
    for (const dir of ['boot', 'etc', 'bin', path.join('lib/modules/9.9-test/kernel')]) await mkdir(path.join(rootfs, dir), {recursive: true});
    await writeFile(path.join(rootfs, 'boot', 'vmlinuz-9.9-test'), 'kernel bytes');
    await writeFile(path.join(rootfs, 'boot', 'initrd.img-9.9-test'), 'initramfs-tools bytes');
    await writeFile(path.join(rootfs, 'bin', 'busybox'), elfHeader());
    await writeFile(path.join(modules, 'modules.dep'), 'kernel/virtio_blk.ko:\n');
    await writeFile(path.join(modules, 'kernel', 'virtio_blk.ko'), 'module');
    const template = await loadTemplate(path.join(builtinTemplatesDir, 'debian-12-minimal'), {disk: '1'});
    assert.equal(template.definition.debootstrap!.direct_boot_initrd, 'minimal', 'debian-12-minimal boots box\'s initrd');
    template.definition.debootstrap!.initramfs_modules = ['virtio_blk'];
    const state: BuildState = {
      template, workDir: work, outputDir: tmp.dir, boxName: 'x', boxVersion: '1', cacheDir: tmp.dir,
      ui: silentUi(), onError: 'cleanup', data: {rootfs, kernelVersion: '9.9-test'},
    };
    await diskImageStep.run(state, new AbortController().signal);
    const artifact = state.artifact!;
    assert.equal(artifact.extraMetadata.initrd, 'initrd.img');
    const listing = (await execa('cpio', ['-it', '--quiet'], {input: gunzipSync(await readFile(artifact.extraFiles['initrd.img']))})).stdout.split('\n');
    for (const f of ['init', 'bin/busybox', 'lib/modules/virtio_blk.ko', 'lib/modules/load-order']) assert.ok(listing.includes(f), f);
    const grub = (await execa('debugfs', ['-R', 'cat /boot/grub/grub.cfg', `${artifact.imagePath}?offset=1048576`])).stdout;
    assert.match(grub, /initrd \/boot\/initrd\.img-9\.9-test/);
    await diskImageStep.cleanup!(state, 'succeeded');
  });
});

describe('debootstrap method: a box that boots with no initrd', () => {
  let tmp: {dir: string; cleanup: () => Promise<void>};
  before(async () => {
    tmp = await tempDir('box-debootstrap-noinitrd-');
  });
  after(() => tmp.cleanup());

  async function imageState(name: string, kernelConfig: string | undefined): Promise<BuildState> {
    const work = path.join(tmp.dir, name);
    const rootfs = path.join(work, 'rootfs');
    await mkdir(path.join(rootfs, 'boot'), {recursive: true});
    await mkdir(path.join(rootfs, 'etc'), {recursive: true});
    await writeFile(path.join(rootfs, 'boot', 'vmlinuz-9.9-test'), 'kernel bytes');
    await writeFile(path.join(rootfs, 'boot', 'initrd.img-9.9-test'), 'initrd bytes');
    if (kernelConfig !== undefined) await writeFile(path.join(rootfs, 'boot', 'config-9.9-test'), kernelConfig);
    const template = await loadTemplate(path.join(builtinTemplatesDir, 'debian-12-minimal'), {disk: '1'});
    // debian-12-minimal keeps its initrd (suspend needs a virtio disk); the option, turned on here.
    template.definition.debootstrap!.boot_without_initrd = true;
    template.definition.debootstrap!.direct_boot_initrd = 'initramfs-tools'; // the schema refuses both
    return {
      template, workDir: work, outputDir: tmp.dir, boxName: 'x', boxVersion: '1', cacheDir: tmp.dir,
      ui: silentUi(), onError: 'cleanup', data: {rootfs, kernelVersion: '9.9-test'},
    };
  }

  test('the kernel command line names root by the MBR partition id, waits for the disk and mounts ext4 read-write', () => {
    assert.equal(noInitrdCmdline('db36c210', 'console=ttyS0'), 'root=PARTUUID=db36c210-01 rootfstype=ext4 rootwait rw console=ttyS0');
  });

  test('with NVMe and ext4 built into the kernel: metadata boots the kernel alone on an NVMe disk whose partition id is the one on the command line; GRUB keeps its initrd', async () => {
    const state = await imageState('ok', '# comment\nCONFIG_BLK_DEV_NVME=y\nCONFIG_VIRTIO_BLK=m\nCONFIG_EXT4_FS=y\n');
    await diskImageStep.run(state, new AbortController().signal);
    const artifact = state.artifact!;
    assert.equal(artifact.extraMetadata.initrd, undefined, 'box up boots no initrd');
    assert.equal(await readFile(artifact.extraFiles['initrd.img'], 'utf8'), 'initrd bytes', 'still shipped, for a Vagrantfile\'s libvirt.initrd');
    assert.equal(artifact.extraMetadata.disk_bus, 'nvme');
    const cmdline = String(artifact.extraMetadata.cmdline);
    const id = /root=PARTUUID=([0-9a-f]{8})-01 rootfstype=ext4 rootwait rw /.exec(cmdline)![1];
    assert.match(cmdline, /console=ttyS0,115200/);
    const table = JSON.parse((await execa('sfdisk', ['--json', artifact.imagePath])).stdout).partitiontable;
    assert.equal(table.id, `0x${id}`, 'the disk id sfdisk wrote');
    const fs = `${artifact.imagePath}?offset=1048576`;
    const grub = (await execa('debugfs', ['-R', 'cat /boot/grub/grub.cfg', fs])).stdout;
    assert.match(grub, /initrd \/boot\/initrd\.img-9\.9-test/, 'the disk\'s own GRUB boots as before (vagrant-libvirt, virtio disk)');
    assert.match(grub, /root=UUID=/);
    await diskImageStep.cleanup!(state, 'succeeded');
  });

  test('a kernel with NVMe as a module (or no config at all) fails the build, naming the missing option', async () => {
    const state = await imageState('module', 'CONFIG_BLK_DEV_NVME=m\nCONFIG_EXT4_FS=y\n');
    await assert.rejects(diskImageStep.run(state, new AbortController().signal), (error: BoxError) => /boot_without_initrd/.test(error.message) && /CONFIG_BLK_DEV_NVME/.test(error.message) && !/CONFIG_EXT4_FS/.test(error.message));
    await diskImageStep.cleanup!(state, 'failed');
    const none = await imageState('none', undefined);
    await assert.rejects(diskImageStep.run(none, new AbortController().signal), (error: BoxError) => /no .*config-9\.9-test/.test(error.message));
    await diskImageStep.cleanup!(none, 'failed');
  });
});

describe('debootstrap method: host and safety', () => {
  let tmp: {dir: string; cleanup: () => Promise<void>};
  before(async () => {
    tmp = await tempDir('box-debootstrap-safety-');
  });
  after(() => tmp.cleanup());

  test('a build as a normal user stops at once with a sudo hint', async () => {
    await assert.rejects(checkDebootstrapHost(false), (error: BoxError) => error.code === 'ERR_BUILD_NEEDS_ROOT' && /sudo box build/.test(error.hint!));
  });

  test('on this host (root, tools installed) the preflight passes', async () => {
    await checkDebootstrapHost(true);
  });

  test('removing a root file system first unmounts what a killed debootstrap left mounted inside it', async () => {
    const rootfs = path.join(tmp.dir, 'rootfs');
    const proc = path.join(rootfs, 'proc');
    await mkdir(proc, {recursive: true});
    await writeFile(path.join(rootfs, 'file'), 'x');
    await execa('mount', ['-t', 'tmpfs', 'tmpfs', proc]);
    try {
      await writeFile(path.join(proc, 'inside-mount'), 'y');
      assert.deepEqual(await mountsUnder(rootfs), [proc]);
      await removeRootfs(rootfs);
      assert.equal(existsSync(rootfs), false);
      assert.deepEqual(await mountsUnder(rootfs), []);
    } finally {
      await execa('umount', ['-l', proc], {reject: false});
    }
  });

  test('Ctrl-C during a long tool stops its whole process tree, not just the top process', async () => {
    const pidFile = path.join(tmp.dir, 'grandchild.pid');
    const controller = new AbortController();
    const lines: string[] = [];
    const ui = {output: (prefix: string, text: string) => lines.push(`${prefix} ${text}`)} as unknown as Parameters<typeof runStreamed>[0];
    const pending = runStreamed(ui, controller.signal, 'tool', 'sh', ['-c', `sleep 300 & echo $! > ${pidFile}; echo started; wait`]);
    while (!existsSync(pidFile) || !lines.some((l) => l.includes('started'))) await new Promise((r) => setTimeout(r, 20));
    const grandchild = Number((await readFile(pidFile, 'utf8')).trim());
    controller.abort();
    await assert.rejects(pending, (error: BoxError) => error.code === 'ERR_INTERRUPTED');
    // Alive = exists and is not a zombie (an orphan waits for its new parent to reap it).
    const alive = (): boolean => {
      try {
        return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${grandchild}/stat`, 'utf8'));
      } catch {
        return false;
      }
    };
    for (let i = 0; i < 50 && alive(); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(alive(), false, 'the backgrounded sleep was killed with its group');
    assert.deepEqual(lines, ['[tool] started\n']);
  });

  test('a failing tool reports its exit code and the tail of its output', async () => {
    const ui = {output: () => undefined} as unknown as Parameters<typeof runStreamed>[0];
    await assert.rejects(runStreamed(ui, new AbortController().signal, 'tool', 'sh', ['-c', 'echo first; echo E: Unable to locate package nope; exit 7'], {}, 'check the mirror'),
      (error: BoxError) => error.code === 'ERR_BUILD_STEP' && /exited with code 7/.test(error.message) && /Unable to locate package nope/.test(error.message) && error.hint === 'check the mirror');
  });

  test('the plan names the suite, the chroot scripts, the slim initramfs, the GRUB disk layout and box\'s minimal initrd', async () => {
    const template = await loadTemplate(path.join(builtinTemplatesDir, 'debian-12-minimal'));
    const plan = debootstrapMethod.plan(template).join('\n');
    assert.match(plan, /debootstrap bookworm \(minbase\) from http:\/\/deb\.debian\.org\/debian/);
    assert.match(plan, /run in chroot: _scripts\/vagrant-user\.sh/);
    assert.match(plan, /MODULES=list: .*virtio_blk/);
    assert.match(plan, /10 GiB: MBR \+ ext4/);
    assert.match(plan, /box up boots box's minimal initrd/);
    const inputs = await debootstrapMethod.cacheInputs(template);
    assert.match(String(inputs.debootstrap), /^\d/);
    assert.match(String(inputs.minimalInit), /^[0-9a-f]{16}$/, 'a change to the minimal /init invalidates cached builds');
  });
});

describe('shared post-install scripts', () => {
  test('vagrant-user.sh carries exactly Vagrant\'s public insecure key', async () => {
    const script = await readFile(path.join(builtinTemplatesDir, '_scripts', 'vagrant-user.sh'), 'utf8');
    const {INSECURE_PUBLIC_KEY} = await import('../../src/communicators/insecure-key.js');
    assert.ok(script.includes(`INSECURE_KEY='${INSECURE_PUBLIC_KEY}'`));
    assert.match(script, /NOPASSWD: ALL/);
  });

  test('the boot-time host key check keeps good keys and remakes empty, truncated or unpaired ones', async () => {
    // The script sshd.sh installs as /usr/local/sbin/box-host-keys, run on a scratch folder.
    const sshd = await readFile(path.join(builtinTemplatesDir, '_scripts', 'sshd.sh'), 'utf8');
    const body = /cat > \/usr\/local\/sbin\/box-host-keys <<'SCRIPT'\n([\s\S]*?)\nSCRIPT\n/.exec(sshd)?.[1];
    assert.ok(body, 'sshd.sh installs box-host-keys');
    const tmp = await tempDir('box-host-keys-');
    try {
      const script = path.join(tmp.dir, 'box-host-keys');
      const keys = path.join(tmp.dir, 'ssh');
      await writeFile(script, body + '\n', {mode: 0o755});
      await mkdir(keys);
      const run = () => execa(script, [keys]);
      const fingerprint = async (type: string) => (await execa('ssh-keygen', ['-l', '-f', path.join(keys, `ssh_host_${type}_key.pub`)])).stdout;
      const valid = async (type: string) => {
        await execa('ssh-keygen', ['-y', '-f', path.join(keys, `ssh_host_${type}_key`)]);
        return fingerprint(type);
      };

      assert.match((await run()).stdout, /made new SSH host keys: ed25519 ecdsa/);
      const ed = await valid('ed25519');
      const ec = await valid('ecdsa');
      // A boot with good keys changes nothing.
      assert.equal((await run()).stdout, '');
      assert.equal(await valid('ed25519'), ed);

      // What a hard stop during the first boot left: every key at 0 bytes (and an RSA leftover).
      for (const type of ['ed25519', 'ecdsa', 'rsa']) {
        await writeFile(path.join(keys, `ssh_host_${type}_key`), '');
        await writeFile(path.join(keys, `ssh_host_${type}_key.pub`), '');
      }
      assert.match((await run()).stdout, /ed25519 ecdsa/);
      assert.notEqual(await valid('ed25519'), ed);
      assert.notEqual(await valid('ecdsa'), ec);
      assert.equal(existsSync(path.join(keys, 'ssh_host_rsa_key')), false, 'a damaged key of an unused type is removed');

      // A truncated private key whose public half is intact is damaged too.
      const priv = path.join(keys, 'ssh_host_ecdsa_key');
      await writeFile(priv, (await readFile(priv)).subarray(0, 100), {mode: 0o600});
      assert.match((await run()).stdout, /made new SSH host keys: ecdsa$/m);
      await valid('ecdsa');
      // Cut at a line boundary (no END line), zero-filled at full length, a public half that is
      // not a key line: each is damaged, and only that key is made again.
      const whole = await readFile(priv, 'utf8');
      await writeFile(priv, whole.split('\n').slice(0, -2).join('\n') + '\n', {mode: 0o600});
      assert.match((await run()).stdout, /made new SSH host keys: ecdsa$/m);
      await writeFile(priv, Buffer.alloc((await readFile(priv)).length), {mode: 0o600});
      assert.match((await run()).stdout, /made new SSH host keys: ecdsa$/m);
      await writeFile(path.join(keys, 'ssh_host_ed25519_key.pub'), 'ssh-ed25519\n');
      assert.match((await run()).stdout, /made new SSH host keys: ed25519$/m);
      await valid('ecdsa');
      await valid('ed25519');
      assert.equal((await run()).stdout, '', 'whole keys are kept');
      assert.deepEqual((await readdir(keys)).sort(), ['ssh_host_ecdsa_key', 'ssh_host_ecdsa_key.pub', 'ssh_host_ed25519_key', 'ssh_host_ed25519_key.pub']);
    } finally {
      await tmp.cleanup();
    }
  });

  test('every shared script is valid POSIX shell', async () => {
    for (const name of ['vagrant-user.sh', 'sshd.sh', 'cleanup.sh', 'zero-free-space.sh']) {
      const result = await execa('sh', ['-n', path.join(builtinTemplatesDir, '_scripts', name)], {reject: false});
      assert.equal(result.exitCode, 0, `${name}: ${result.stderr}`);
    }
    for (const name of ['fast-boot.sh', 'slim.sh']) {
      const result = await execa('sh', ['-n', path.join(builtinTemplatesDir, 'debian-12-minimal', 'scripts', name)], {reject: false});
      assert.equal(result.exitCode, 0, `${name}: ${result.stderr}`);
    }
  });
});
