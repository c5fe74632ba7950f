import {existsSync} from 'node:fs';
import {BoxError} from '../../../core/errors.js';
import {tryRun} from '../../../core/exec.js';

/** The host tools the debootstrap method drives, with the Debian package that provides each. */
const TOOLS: Array<[tool: string, pkg: string]> = [
  ['debootstrap', 'debootstrap'],
  ['chroot', 'coreutils'],
  ['sfdisk', 'fdisk'],
  ['mkfs.ext4', 'e2fsprogs'],
  ['qemu-img', 'qemu-utils'],
  ['grub-mkimage', 'grub-common'],
];

export const GRUB_I386_PC_DIR = '/usr/lib/grub/i386-pc';

/**
 * debootstrap unpacks packages as root (device nodes, file owners, chroot): say so up front
 * instead of failing half-way, and name the package of any missing tool.
 */
export async function checkDebootstrapHost(isRoot = process.getuid?.() === 0): Promise<void> {
  if (!isRoot) {
    throw new BoxError('ERR_BUILD_NEEDS_ROOT', 'The debootstrap build method must run as root (it unpacks packages with their owners and runs chroot).', {
      hint: 'Run it with sudo: `sudo box build debian-12-minimal` (BOX_HOME and --output still apply).',
    });
  }
  const missing: string[] = [];
  for (const [tool, pkg] of TOOLS) {
    if ((await tryRun('sh', ['-c', `command -v ${tool}`], {env: {PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin`}})) === null) missing.push(`${tool} (${pkg})`);
  }
  if (!existsSync(`${GRUB_I386_PC_DIR}/boot.img`)) missing.push('GRUB BIOS modules (grub-pc-bin)');
  if (missing.length > 0) {
    const pkgs = missing.map((m) => /\(([^)]+)\)/.exec(m)![1]);
    throw new BoxError('ERR_BUILD_TOOLS', `Missing host tools for the debootstrap build: ${missing.join(', ')}.`, {
      hint: `Install them: apt-get install ${[...new Set(pkgs)].join(' ')}`,
    });
  }
}
