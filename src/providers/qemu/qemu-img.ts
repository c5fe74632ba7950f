import {run} from '../../core/exec.js';

const hint = 'Install QEMU\'s tools (Debian/Ubuntu: `apt-get install qemu-utils`) and check the box image with `qemu-img check`.';

export interface ImageInfo {
  format: string;
  virtualSize: number;
}

/** `qemu-img info` reads only the image header, so its cost does not depend on the image size. */
export async function imageInfo(file: string, signal?: AbortSignal): Promise<ImageInfo> {
  // -U: the base may be open (read-only, shared) by other running machines.
  const out = await run('qemu-img', ['info', '-U', '--output=json', file], {errorCode: 'ERR_QEMU_IMG', hint, signal});
  const info = JSON.parse(out) as {format: string; 'virtual-size': number};
  return {format: info.format, virtualSize: info['virtual-size']};
}

/**
 * Creates a copy-on-write qcow2 overlay on `base` (absolute path) of `sizeBytes` (at least the
 * base's virtual size): one small file whatever the base size (~0.01 s, ~200 KiB). `-u`: the
 * base is not opened (qemu-img would otherwise open it and any backing chain it names).
 */
export async function createOverlay(base: string, overlay: string, options: {baseFormat: string; sizeBytes: number; signal?: AbortSignal}): Promise<void> {
  const args = ['create', '-q', '-f', 'qcow2', '-u', '-b', base, '-F', options.baseFormat, overlay, String(options.sizeBytes)];
  await run('qemu-img', args, {errorCode: 'ERR_QEMU_IMG', hint, signal: options.signal});
}
