import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {mkdir, readFile, rm, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {gunzipSync} from 'node:zlib';
import {execa} from 'execa';
import {cpioNewc} from '../../src/builder/methods/debootstrap/cpio.js';
import {buildMinimalInitrd, MINIMAL_INIT, moduleLoadOrder, ROOT_NEEDS_CHECK} from '../../src/builder/methods/debootstrap/minimal-initrd.js';
import {loadTemplate} from '../../src/builder/template.js';
import {BoxError} from '../../src/core/errors.js';
import {tempDir} from '../helpers/cli.js';
import {elfHeader} from '../helpers/elf.js';

// box's own initrd for direct kernel boot. What the kernel does with it is proven by booting:
// the test box is built with it (test/builder/debootstrap.e2e.test.ts boots it with QEMU's
// -kernel/-initrd, and every qemu e2e boots it through box up). Here: the archive, the module
// order and the build's refusals, read back with GNU cpio; and the root superblock check of its
// /init, run by the host's shell against ext4 images.

const MODULES_DEP = [
  'kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko',
  'kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio_ring.ko kernel/drivers/virtio/virtio.ko',
  'kernel/drivers/virtio/virtio_pci_modern_dev.ko:',
  'kernel/drivers/virtio/virtio_ring.ko: kernel/drivers/virtio/virtio.ko',
  'kernel/drivers/virtio/virtio.ko:',
  'kernel/drivers/scsi/sd_mod.ko: kernel/drivers/scsi/scsi_common.ko',
  'kernel/drivers/scsi/scsi_common.ko:',
  'kernel/drivers/hid/hid-generic.ko:',
  '',
].join('\n');
const MODULES_BUILTIN = 'kernel/fs/ext4/ext4.ko\nkernel/drivers/nvme/host/nvme.ko\n';

describe('minimal initrd: module load order', () => {
  test('each module comes after the modules it needs, once; built-in ones are left out', () => {
    const order = moduleLoadOrder(['virtio_pci', 'virtio_blk', 'ext4', 'sd_mod'], MODULES_DEP, MODULES_BUILTIN);
    assert.deepEqual(order, [
      'kernel/drivers/virtio/virtio_pci_modern_dev.ko',
      'kernel/drivers/virtio/virtio.ko',
      'kernel/drivers/virtio/virtio_ring.ko',
      'kernel/drivers/virtio/virtio_pci.ko',
      'kernel/drivers/block/virtio_blk.ko',
      'kernel/drivers/scsi/scsi_common.ko',
      'kernel/drivers/scsi/sd_mod.ko',
    ]);
  });

  test('dashes and underscores name the same module, as for modprobe', () => {
    assert.deepEqual(moduleLoadOrder(['hid_generic'], MODULES_DEP, ''), ['kernel/drivers/hid/hid-generic.ko']);
    assert.deepEqual(moduleLoadOrder(['virtio-blk'], MODULES_DEP, '').at(-1), 'kernel/drivers/block/virtio_blk.ko');
  });

  test('a module the kernel does not have fails the build, naming the template field', () => {
    assert.throws(() => moduleLoadOrder(['virtio_blk', 'no_such_driver'], MODULES_DEP, MODULES_BUILTIN),
      (error: BoxError) => error.code === 'ERR_BUILD_STEP' && /debootstrap\.initramfs_modules/.test(error.message) && /no_such_driver/.test(error.message));
  });

  test('compressed modules are refused as not supported yet, not packed for an insmod that cannot read them', () => {
    assert.throws(() => moduleLoadOrder(['virtio_blk'], 'kernel/drivers/block/virtio_blk.ko.xz:\n', ''),
      (error: BoxError) => /not support compressed kernel modules yet/.test(error.message) && /virtio_blk\.ko\.xz/.test(error.message));
  });
});

describe('minimal initrd: the archive', () => {
  let tmp: {dir: string; cleanup: () => Promise<void>};
  before(async () => {
    tmp = await tempDir('box-minimal-initrd-');
  });
  after(() => tmp.cleanup());

  async function fakeRootfs(name: string, busybox: Buffer | undefined): Promise<string> {
    const rootfs = path.join(tmp.dir, name);
    const modules = path.join(rootfs, 'lib/modules/9.9-test');
    await mkdir(path.join(modules, 'kernel/drivers/virtio'), {recursive: true});
    await mkdir(path.join(modules, 'kernel/drivers/block'), {recursive: true});
    await mkdir(path.join(rootfs, 'bin'), {recursive: true});
    if (busybox) await writeFile(path.join(rootfs, 'bin/busybox'), busybox);
    await writeFile(path.join(modules, 'modules.dep'), 'kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko\nkernel/drivers/virtio/virtio.ko:\n');
    await writeFile(path.join(modules, 'modules.builtin'), 'kernel/fs/ext4/ext4.ko\n');
    await writeFile(path.join(modules, 'kernel/drivers/virtio/virtio.ko'), 'virtio module bytes');
    await writeFile(path.join(modules, 'kernel/drivers/block/virtio_blk.ko'), 'virtio_blk module bytes');
    return rootfs;
  }

  test('GNU cpio reads it: /init, a static busybox, the modules in load order and a /dev/console device', async () => {
    const busybox = elfHeader([1, 1]);
    const rootfs = await fakeRootfs('ok', busybox);
    const initrd = gunzipSync(await buildMinimalInitrd(rootfs, '9.9-test', ['virtio_blk', 'ext4']));
    const listing = (await execa('cpio', ['-itv', '--quiet'], {input: initrd})).stdout;
    assert.match(listing, /^-rwxr-xr-x .* root +root .* init$/m);
    assert.match(listing, /^-rwxr-xr-x .* bin\/busybox$/m);
    assert.match(listing, /^crw------- .* 5, +1 .* dev\/console$/m, 'the console exists before /init mounts devtmpfs');
    for (const dir of ['proc', 'sys', 'root', 'lib/modules']) assert.match(listing, new RegExp(`^drwxr-xr-x .* ${dir}$`, 'm'));

    const out = path.join(tmp.dir, 'unpacked');
    await mkdir(out);
    await execa('cpio', ['-id', '--quiet', '--no-absolute-filenames'], {input: initrd, cwd: out});
    assert.equal(await readFile(path.join(out, 'init'), 'utf8'), MINIMAL_INIT);
    assert.deepEqual(await readFile(path.join(out, 'bin/busybox')), busybox);
    assert.equal(await readFile(path.join(out, 'lib/modules/load-order'), 'utf8'), 'virtio.ko\nvirtio_blk.ko\n');
    assert.equal(await readFile(path.join(out, 'lib/modules/virtio_blk.ko'), 'utf8'), 'virtio_blk module bytes');
  });

  test('the archive format: newc headers, 4-byte alignment and the trailer', () => {
    const archive = cpioNewc([{type: 'file', path: '/a', data: Buffer.from('xyz')}]);
    assert.equal(archive.subarray(0, 6).toString(), '070701');
    assert.equal(archive.length % 4, 0);
    assert.ok(archive.includes(Buffer.from('TRAILER!!!\0')));
    const dataAt = 110 + 2 + 0; // header, "a\0", already 4-aligned at 112
    assert.equal(archive.subarray(dataAt, dataAt + 3).toString(), 'xyz');
  });

  test('a busybox that is missing or dynamically linked fails the build with the package to add', async () => {
    for (const [name, busybox] of [['missing', undefined], ['dynamic', elfHeader([6, 3, 1])]] as const) {
      const rootfs = await fakeRootfs(name, busybox);
      await assert.rejects(buildMinimalInitrd(rootfs, '9.9-test', ['virtio_blk']),
        (error: BoxError) => /static busybox/.test(error.message) && /busybox-static/.test(error.hint ?? ''), name);
    }
  });

  test('a kernel with no modules.dep (depmod never ran) fails the build naming the file', async () => {
    const rootfs = await fakeRootfs('no-depmod', elfHeader([1]));
    await rm(path.join(rootfs, 'lib/modules/9.9-test/modules.dep'));
    await assert.rejects(buildMinimalInitrd(rootfs, '9.9-test', ['virtio_blk']), (error: BoxError) => /modules\.dep, which is missing or empty/.test(error.message));
  });

  test('the /init it boots mounts root read-write only when the command line says rw and root needs no check, and hands over with switch_root', () => {
    assert.match(MINIMAL_INIT, /^#!\/bin\/busybox sh\n/);
    assert.ok(MINIMAL_INIT.includes(ROOT_NEEDS_CHECK), 'the check is part of /init');
    assert.match(MINIMAL_INIT, /init=\/sbin\/init mode=ro force_check=''\n/, 'read-only unless the command line says rw');
    assert.match(MINIMAL_INIT, /why="\$\(root_needs_check "\$dev"\)"/);
    assert.match(MINIMAL_INIT, /mount -o "\$mode/);
    assert.match(MINIMAL_INIT, /exec switch_root \/root "\$init" "\$@"/);
  });
});

// The superblock check, run by a POSIX shell against real ext4 images that e2fsprogs makes and
// marks (the initrd runs it in busybox sh with busybox od; the debootstrap e2e boots that).
describe('minimal initrd: does root need fsck before it is mounted read-write', () => {
  let tmp: {dir: string; cleanup: () => Promise<void>};
  let image: string;
  before(async () => {
    tmp = await tempDir('box-root-check-');
    image = path.join(tmp.dir, 'root.img');
  });
  after(async () => tmp?.cleanup());

  const needsCheck = async (device = image) => (await execa('sh', ['-c', `${ROOT_NEEDS_CHECK}\nroot_needs_check "$1"`, 'sh', device], {reject: false})).stdout;
  const freshExt4 = async () => {
    await rm(image, {force: true});
    await execa('truncate', ['-s', '32M', image]);
    await execa('mkfs.ext4', ['-q', '-F', image]);
  };
  const debugfs = (request: string) => execa('debugfs', ['-w', '-R', request, image]);
  const tune2fs = (...args: string[]) => execa('tune2fs', [...args, image]);

  test('a cleanly unmounted ext4 with no errors and no periodic check needs none', async () => {
    await freshExt4();
    assert.equal(await needsCheck(), '');
    await tune2fs('-c', '20', '-C', '19'); // a mount count below its maximum
    assert.equal(await needsCheck(), '');
  });

  test('an error recorded in the superblock (as errors=remount-ro leaves it) needs a check', async () => {
    await freshExt4();
    await debugfs('ssv state 3');
    assert.match(await needsCheck(), /records errors or an unclean unmount \(state 3\)/);
  });

  test('ext2 not cleanly unmounted (state 0) needs a check', async () => {
    await freshExt4();
    await debugfs('ssv state 0');
    assert.match(await needsCheck(), /state 0/);
  });

  test('a journal left to replay needs a check', async () => {
    await freshExt4();
    await debugfs('feature needs_recovery');
    assert.match(await needsCheck(), /journal needs replaying/);
  });

  test('a periodic check: the mount count reached, or any check interval, needs one (e2fsck decides)', async () => {
    await freshExt4();
    await tune2fs('-c', '5', '-C', '5');
    assert.match(await needsCheck(), /mount count reached 5/);
    await tune2fs('-c', '-1', '-i', '1d');
    assert.match(await needsCheck(), /check interval/);
  });

  test('the command line: the last of rw/ro wins, and fsck.mode=force keeps root read-only wherever it stands', async () => {
    // /init's own argument loop, run by the host's shell on a given command line instead of /proc/cmdline.
    const loop = MINIMAL_INIT.slice(MINIMAL_INIT.indexOf("root='' fstype="), MINIMAL_INIT.indexOf('\ndone\n') + 6).replace('$(cat /proc/cmdline)', '$1');
    const parse = async (cmdline: string) => (await execa('sh', ['-c', `${loop}\necho "$mode \${force_check:-none}"`, 'sh', cmdline])).stdout;
    assert.equal(await parse('root=UUID=x rw console=ttyS0'), 'rw none');
    assert.equal(await parse('root=UUID=x console=ttyS0'), 'ro none', 'neither: read-only');
    assert.equal(await parse('root=UUID=x rw ro'), 'ro none');
    assert.equal(await parse('root=UUID=x ro rw'), 'rw none');
    assert.equal(await parse('fsck.mode=force root=UUID=x rw'), 'rw 1');
    assert.match(MINIMAL_INIT, /\[ -z "\$force_check" \] \|\| why='fsck\.mode=force'/, 'a forced check makes root read-only');
  });

  test('another file system, or a device that cannot be read, needs a check (fsck decides)', async () => {
    await writeFile(image, Buffer.alloc(4096));
    assert.match(await needsCheck(), /not ext2\/3\/4/);
    assert.match(await needsCheck(path.join(tmp.dir, 'missing')), /could not be read/);
  });
});

describe('minimal initrd: template', () => {
  let tmp: {dir: string; cleanup: () => Promise<void>};
  before(async () => {
    tmp = await tempDir('box-minimal-initrd-template-');
  });
  after(() => tmp.cleanup());

  test('direct_boot_initrd: minimal together with boot_without_initrd is refused at its line', async () => {
    const dir = path.join(tmp.dir, 'both');
    await mkdir(dir);
    await writeFile(path.join(dir, 'template.yaml'), [
      'method: debootstrap',
      'debootstrap:',
      '  suite: bookworm',
      '  boot_without_initrd: true',
      '  direct_boot_initrd: minimal',
      '',
    ].join('\n'));
    await assert.rejects(loadTemplate(dir), (error: BoxError) => /template\.yaml:5: debootstrap\.direct_boot_initrd: has no meaning with boot_without_initrd/.test(error.message));
  });

  test('an unknown initrd kind is refused, naming the two there are', async () => {
    const dir = path.join(tmp.dir, 'unknown');
    await mkdir(dir);
    await writeFile(path.join(dir, 'template.yaml'), 'method: debootstrap\ndebootstrap:\n  suite: bookworm\n  direct_boot_initrd: dracut\n');
    await assert.rejects(loadTemplate(dir), (error: BoxError) => /direct_boot_initrd/.test(error.message) && /minimal/.test(error.message));
  });
});
