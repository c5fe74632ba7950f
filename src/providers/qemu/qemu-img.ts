import {BoxError} from '../../core/errors.js';
import {run, startInOwnGroup} from '../../core/exec.js';

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

/** An internal snapshot of a qcow2 image, as `qemu-img info` lists it. */
export interface ImageSnapshot {
  /** The snapshot's tag: the name `box snapshot save` was given. */
  name: string;
  /** When it was taken (ISO 8601). */
  date: string;
  /** Bytes of saved guest RAM and device state; 0 for a disk-only snapshot. */
  vmStateSize: number;
}

/** The image's internal snapshots, oldest first. -U: a running QEMU may hold the image. */
export async function listImageSnapshots(file: string): Promise<ImageSnapshot[]> {
  const out = await run('qemu-img', ['info', '-U', '--output=json', file], {errorCode: 'ERR_QEMU_IMG', hint});
  const info = JSON.parse(out) as {snapshots?: Array<{name: string; 'date-sec': number; 'vm-state-size': number}>};
  return (info.snapshots ?? []).map((s) => ({name: s.name, date: new Date(s['date-sec'] * 1000).toISOString(), vmStateSize: s['vm-state-size']}));
}

/**
 * `qemu-img snapshot -c|-a|-d NAME` on a halted machine's image. It runs to its end in its own
 * process group: a Ctrl-C in the terminal must not stop it halfway through the image's snapshot
 * table (the caller honours the interrupt afterwards).
 */
export async function imageSnapshot(action: 'create' | 'apply' | 'delete', file: string, name: string): Promise<void> {
  const flag = {create: '-c', apply: '-a', delete: '-d'}[action];
  const result = await startInOwnGroup('qemu-img', ['snapshot', flag, name, file], {env: {LANG: 'C'}});
  if (result.failed) {
    const stderr = String(result.stderr ?? '').trim().split('\n').slice(-5).join('\n');
    throw new BoxError('ERR_QEMU_IMG', `qemu-img snapshot ${flag} ${name} ${file} failed${result.exitCode === undefined ? '' : ` (exit ${result.exitCode})`}: ${stderr || result.shortMessage}`, {hint});
  }
}

/**
 * Reads `qemu-img convert -p` output (`    (42.50/100%)\r`, also when stdout is a pipe): calls
 * `onPercent` with the last percentage of each chunk, once per new value.
 */
export function convertPercentReader(onPercent: (percent: number) => void): (text: string) => void {
  let last = -1;
  let rest = '';
  return (text) => {
    const all = rest + text;
    const found = [...all.matchAll(/\((\d+(?:\.\d+)?)\/100%\)/g)];
    // A percentage cut between two chunks is read with the next one.
    rest = all.slice(all.lastIndexOf(')') + 1);
    const percent = found.length > 0 ? Number(found[found.length - 1]![1]) : undefined;
    if (percent === undefined || percent === last) return;
    last = percent;
    onPercent(percent);
  };
}
