import {createHash} from 'node:crypto';
import {tryRun} from '../../../core/exec.js';
import type {BuildMethod} from '../index.js';
import {diskGiB} from '../../template.js';
import {diskImageStep} from './disk-image.js';
import {checkDebootstrapHost} from './host-check.js';
import {MINIMAL_INIT} from './minimal-initrd.js';
import {configureRootfsStep, debootstrapStep} from './rootfs.js';

/**
 * Builds a Debian-family box straight from packages: debootstrap into a folder, configure it
 * (post-install scripts run in a chroot), then a bootable raw disk with GRUB, made without
 * loop devices or mounts. No VM runs, so it is fast (about a minute for bookworm minbase).
 */
export const debootstrapMethod: BuildMethod = {
  name: 'debootstrap',
  preflight: () => checkDebootstrapHost(),
  async cacheInputs() {
    // Host tools whose version changes the image bytes.
    const debootstrap = await tryRun('dpkg-query', ['-W', '-f=${Version}', 'debootstrap']);
    const grub = await tryRun('dpkg-query', ['-W', '-f=${Version}', 'grub-pc-bin']);
    // box's own /init goes into every box with direct_boot_initrd: minimal.
    const minimalInit = createHash('sha256').update(MINIMAL_INIT).digest('hex').slice(0, 16);
    return {debootstrap, grub, layout: 'mbr-grub-ext4-v1', minimalInit};
  },
  plan(template) {
    const d = template.definition.debootstrap!;
    return [
      `debootstrap ${d.suite} (${d.variant}) from ${d.mirror} with ${d.packages.join(', ') || 'no extra packages'}`,
      ...template.definition.post_install.map((p) => `run in chroot: ${p.script ?? `inline (${p.inline!.length} lines)`}`),
      `initramfs MODULES=list: ${d.initramfs_modules.join(' ') || '(distribution default)'}`,
      `raw disk ${diskGiB(template.definition.disk)} GiB: MBR + ext4 (mkfs.ext4 -d) + GRUB (BIOS) in the MBR gap`,
      ...(d.direct_boot_initrd === 'minimal' && !d.boot_without_initrd ? ['box up boots box\'s minimal initrd: static busybox + those modules, root mounted by /init'] : []),
    ];
  },
  steps: () => [debootstrapStep, configureRootfsStep, diskImageStep],
};
