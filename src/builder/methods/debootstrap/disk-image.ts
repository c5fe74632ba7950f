import {randomUUID} from 'node:crypto';
import {copyFile, mkdir, open, readFile, readdir, rm, stat, truncate, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {BoxError} from '../../../core/errors.js';
import {run} from '../../../core/exec.js';
import type {Step} from '../../../core/steps.js';
import {diskGiB} from '../../template.js';
import type {BuildState} from '../index.js';
import {GRUB_I386_PC_DIR} from './host-check.js';
import {buildMinimalInitrd} from './minimal-initrd.js';
import {data} from './rootfs.js';

const SECTOR = 512;
/** The partition starts at 1 MiB; the gap before it holds GRUB's core image (as grub-install does). */
const PART_START_SECTOR = 2048;
const PART_OFFSET = PART_START_SECTOR * SECTOR;
/** Bytes of boot.img that go into the MBR: the code area, before the disk signature and partition table. */
const MBR_CODE_BYTES = 440;
/** boot.img offset of the drive-check jump that grub-setup turns into NOPs for hard disks. */
const BOOT_DRIVE_CHECK = 0x66;
/** Modules built into core.img: enough to read grub.cfg and the kernel from an ext4 partition. */
const CORE_MODULES = ['biosdisk', 'part_msdos', 'ext2', 'normal', 'linux', 'serial', 'terminal', 'search', 'echo', 'test'];

export interface BootFiles {
  uuid: string;
  cmdline: string;
}

/** The kernel command line: root by file system UUID (works for virtio, SATA and SCSI disks). */
export function kernelCmdline(uuid: string, extra = ''): string {
  return `root=UUID=${uuid} rw ${extra}`.trim();
}

/**
 * The command line of a boot with no initrd: the kernel itself finds root by the MBR partition
 * id (UUID= needs an initrd), waits for the NVMe disk to appear, and mounts ext4 read-write.
 */
export function noInitrdCmdline(diskId: string, extra = ''): string {
  return `root=PARTUUID=${diskId}-01 rootfstype=ext4 rootwait rw ${extra}`.trim();
}

/** Kernel options a boot with no initrd needs built in (=y): the NVMe driver and ext4. */
const NO_INITRD_OPTIONS = ['CONFIG_BLK_DEV_NVME', 'CONFIG_EXT4_FS'];

/** `boot_without_initrd` needs a kernel that finds and mounts root by itself: checked in its /boot/config-*. */
export async function checkNoInitrdKernel(rootfs: string, version: string): Promise<true> {
  const file = path.join(rootfs, 'boot', `config-${version}`);
  const config = await readFile(file, 'utf8').catch(() => '');
  const missing = NO_INITRD_OPTIONS.filter((o) => !new RegExp(`^${o}=y$`, 'm').test(config));
  if (missing.length > 0) {
    throw new BoxError('ERR_BUILD_STEP', `debootstrap.boot_without_initrd: the kernel ${version} does not have ${missing.join(' and ')} built in (${config ? file : `no ${file}`}).`, {
      hint: 'Use a kernel with NVMe and ext4 built in (Debian: linux-image-cloud-amd64), or drop boot_without_initrd from the template.',
    });
  }
  return true;
}

export function grubConfig(kernelVersion: string, cmdline: string): string {
  return [
    '# Written by box build (debootstrap method). No menu: boot at once, on the serial port and the screen.',
    'serial --unit=0 --speed=115200',
    'terminal_input serial console',
    'terminal_output serial console',
    'set timeout=0',
    'set default=0',
    `menuentry "Debian GNU/Linux ${kernelVersion}" {`,
    `  linux /boot/vmlinuz-${kernelVersion} ${cmdline}`,
    `  initrd /boot/initrd.img-${kernelVersion}`,
    '}',
    '',
  ].join('\n');
}

/**
 * Step: raw disk image from the rootfs folder without loop devices or mounts: sfdisk writes an
 * MBR partition table into a sparse file, `mkfs.ext4 -d` fills the partition straight from the
 * folder (`-E offset=`), and GRUB goes in with plain writes: boot.img's code into the MBR and
 * grub-mkimage's core.img into the gap before the partition (what grub-install does on a disk).
 * Also copies the kernel and initrd out, for direct kernel boot.
 */
export const diskImageStep: Step<BuildState> = {
  name: 'image',
  async run(state, signal) {
    const t = state.template.definition;
    const rootfs = data(state).rootfs!;
    const version = data(state).kernelVersion!;
    const sizeGiB = diskGiB(t.disk);
    const raw = path.join(state.workDir, 'disk.raw');
    const uuid = randomUUID();
    const cmdline = kernelCmdline(uuid, t.kernel_cmdline ?? '');
    // The MBR's disk id names the partition for a kernel with no initrd (root=PARTUUID=ID-01).
    const diskId = uuid.replaceAll('-', '').slice(0, 8);
    const noInitrd = t.debootstrap!.boot_without_initrd ? await checkNoInitrdKernel(rootfs, version) : false;

    await writeFile(path.join(rootfs, 'etc/fstab'), `# <file system> <mount point> <type> <options> <dump> <pass>\nUUID=${uuid} / ext4 rw,errors=remount-ro 0 1\n`);
    await mkdir(path.join(rootfs, 'boot/grub/i386-pc'), {recursive: true});
    for (const f of await readdir(GRUB_I386_PC_DIR)) {
      if (f.endsWith('.mod') || f.endsWith('.lst')) await copyFile(path.join(GRUB_I386_PC_DIR, f), path.join(rootfs, 'boot/grub/i386-pc', f));
    }
    await writeFile(path.join(rootfs, 'boot/grub/grub.cfg'), grubConfig(version, cmdline));

    const total = sizeGiB * 1024 ** 3;
    await rm(raw, {force: true});
    await writeFile(raw, '');
    await truncate(raw, total); // sparse: costs nothing until written
    await run('sfdisk', ['--no-reread', '--no-tell-kernel', '--quiet', raw], {
      input: `label: dos\nlabel-id: 0x${diskId}\nstart=${PART_START_SECTOR}, type=83, bootable\n`, errorCode: 'ERR_BUILD_STEP', signal,
    });
    const blocks = Math.floor((total - PART_OFFSET) / 4096);
    await run('mkfs.ext4', ['-F', '-q', '-b', '4096', '-L', 'box-root', '-U', uuid, '-d', rootfs, '-E', `offset=${PART_OFFSET}`, raw, String(blocks)], {
      errorCode: 'ERR_BUILD_STEP', signal, timeoutMs: 30 * 60_000,
      hint: 'mkfs.ext4 -d needs e2fsprogs 1.43 or newer; check the free space where the build folder is.',
    });
    await installGrub(raw, path.join(state.workDir, 'core.img'), signal);

    const kernel = path.join(state.workDir, 'vmlinuz');
    const initrd = path.join(state.workDir, 'initrd.img');
    await copyFile(path.join(rootfs, 'boot', `vmlinuz-${version}`), kernel);
    // The box's initrd.img is what box up boots; the disk's GRUB keeps initramfs-tools' own.
    if (!noInitrd && t.debootstrap!.direct_boot_initrd === 'minimal') await writeFile(initrd, await buildMinimalInitrd(rootfs, version, t.debootstrap!.initramfs_modules));
    else await copyFile(path.join(rootfs, 'boot', `initrd.img-${version}`), initrd);
    state.artifact = {
      imagePath: raw,
      format: 'raw',
      virtualSizeGiB: sizeGiB,
      ...(noInitrd
        ? {
          // box up: the kernel alone, root on NVMe by partition id. initrd.img still ships (not in
          // the metadata) for tools that boot the kernel on virtio (vagrant-libvirt's libvirt.initrd);
          // the disk's GRUB keeps its own.
          extraFiles: {vmlinuz: kernel, 'initrd.img': initrd},
          extraMetadata: {kernel: 'vmlinuz', cmdline: noInitrdCmdline(diskId, t.kernel_cmdline ?? ''), disk_bus: 'nvme', kernel_version: version, root_uuid: uuid, bootloader: 'grub-pc'},
        }
        : {
          extraFiles: {vmlinuz: kernel, 'initrd.img': initrd},
          extraMetadata: {kernel: 'vmlinuz', initrd: 'initrd.img', cmdline, kernel_version: version, root_uuid: uuid, bootloader: 'grub-pc'},
        }),
    };
  },
  async cleanup(state) {
    for (const f of ['disk.raw', 'core.img', 'vmlinuz', 'initrd.img']) await rm(path.join(state.workDir, f), {force: true});
  },
};

/** Writes GRUB (BIOS) into a partitioned raw image: boot.img code into the MBR, core.img after it. */
export async function installGrub(raw: string, coreImg: string, signal?: AbortSignal): Promise<void> {
  await run('grub-mkimage', ['-O', 'i386-pc', '-o', coreImg, '-p', '(hd0,msdos1)/boot/grub', ...CORE_MODULES], {errorCode: 'ERR_BUILD_GRUB', signal});
  const core = await readFile(coreImg);
  const gap = PART_OFFSET - SECTOR;
  if (core.length > gap) {
    throw new BoxError('ERR_BUILD_GRUB', `GRUB core image is ${core.length} bytes, more than the ${gap} bytes before the first partition.`);
  }
  const boot = Buffer.from(await readFile(path.join(GRUB_I386_PC_DIR, 'boot.img')));
  if (boot.length !== SECTOR) throw new BoxError('ERR_BUILD_GRUB', `${GRUB_I386_PC_DIR}/boot.img is ${boot.length} bytes, expected ${SECTOR}.`);
  boot.writeUInt16LE(0x9090, BOOT_DRIVE_CHECK); // trust the BIOS boot drive only if it looks like a hard disk
  const fd = await open(raw, 'r+');
  try {
    await fd.write(boot, 0, MBR_CODE_BYTES, 0);
    // core.img's first sector (diskboot.img) loads the rest from sector 2 on: grub-mkimage
    // already recorded its length, so it belongs at sector 1.
    await fd.write(core, 0, core.length, SECTOR);
  } finally {
    await fd.close();
  }
  if ((await stat(raw)).size === 0) throw new BoxError('ERR_BUILD_GRUB', `Disk image ${raw} is empty after writing GRUB.`);
}
