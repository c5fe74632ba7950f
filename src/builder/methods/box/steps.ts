import {mkdir, rm} from 'node:fs/promises';
import path from 'node:path';
import {BoxError, InterruptedError} from '../../../core/errors.js';
import type {Step} from '../../../core/steps.js';
import type {SshCommunicator} from '../../../communicators/ssh/ssh-communicator.js';
import {inspectDiskImage} from '../../../boxes/disk-image.js';
import {createOverlay, imageInfo} from '../../../providers/qemu/qemu-img.js';
import type {InstalledBox} from '../../../boxes/resolve.js';
import {diskGiB} from '../../template.js';
import type {BuildState} from '../index.js';
import {VM_FILES, iso} from '../iso/state.js';
import {bootStep} from '../iso/vm.js';
import {session} from '../iso/guest.js';
import {resolveSource} from './source.js';
import {hardwareOf} from '../../../boxes/metadata.js';

/** Facts of a from-box build, next to the iso method's VM facts (`iso(state)`) that the reused steps use. */
export interface FromBoxData {
  source?: InstalledBox;
  /** Kernel and initrd copied out of the guest just before shutdown (direct kernel boot). */
  kernel?: {vmlinuz: string; initrd?: string; version: string};
}

export function fromBox(state: BuildState): FromBoxData {
  state.data.box ??= {} satisfies FromBoxData;
  return state.data.box as FromBoxData;
}

/** Source metadata keys the build tail writes itself, or that describe the source rather than the new box. */
const OWN_KEYS = new Set(['provider', 'format', 'virtual_size', 'box_build', 'source_box']);

/** Step: finds the source box in the store (newest version matching `source: NAME@constraint`). */
export const resolveSourceStep: Step<BuildState> = {
  name: 'resolve-source',
  async run(state, signal) {
    const box = await resolveSource(state.template, signal);
    fromBox(state).source = box;
    const meta = box.metadata;
    if (meta.format !== undefined && meta.format !== 'qcow2') {
      throw new BoxError('ERR_BUILD_SOURCE', `Source box ${box.name} ${box.version} has format "${String(meta.format)}" in ${path.join(box.dir, 'metadata.json')}; box build needs a qcow2 (libvirt) box.`, {
        hint: 'Use a libvirt box as the source (box box list shows the provider of each box).',
      });
    }
    state.ui.info(`source box: ${box.name} ${box.version} (${box.provider}) from ${box.dir}`);
  },
};

/**
 * Step: a copy-on-write qcow2 overlay of the source's box.img in the build's VM folder (the
 * store's image is only ever read), at least as large as the template's `disk`.
 */
export const createOverlayStep: Step<BuildState> = {
  name: 'create-overlay',
  async run(state, signal) {
    const source = fromBox(state).source!;
    const d = iso(state);
    d.vmDir = path.join(state.workDir, 'vm');
    await mkdir(d.vmDir, {recursive: true});
    const base = path.join(source.dir, 'box.img');
    // Self-contained and really qcow2 (no backing or data file naming a host file), as at `up`.
    const info = await inspectDiskImage(base, 'qcow2', signal);
    const wanted = diskGiB(state.template.definition.disk) * 1024 ** 3;
    d.disk = path.join(d.vmDir, VM_FILES.disk);
    await createOverlay(base, d.disk, {baseFormat: info.format, sizeBytes: Math.max(wanted, info.virtualSize), signal});
  },
  async cleanup(state, outcome) {
    const d = iso(state);
    if (outcome === 'failed' && state.onError === 'abort') return; // the kept VM runs on it
    if (outcome !== 'succeeded' && d.vmDir) await rm(d.vmDir, {recursive: true, force: true});
  },
};

/**
 * Step: boots the overlay with the iso method's VM step (TCG fallback, QMP socket, serial log,
 * SSH forwarded to a free loopback port), with direct kernel boot when the source box ships
 * vmlinuz/initrd (its metadata `kernel`/`initrd`/`cmdline`), as `box up` does.
 */
export const bootOverlayStep: Step<BuildState> = {
  name: 'boot',
  async run(state, signal) {
    const source = fromBox(state).source!;
    const meta = source.metadata as {kernel?: unknown; initrd?: unknown; cmdline?: unknown};
    const d = iso(state);
    let definition = state.template.definition;
    // buildVmArgs passes -kernel with -initrd: direct boot needs both (else the disk's bootloader boots).
    if (typeof meta.kernel === 'string' && typeof meta.initrd === 'string') {
      d.kernelPath = path.join(source.dir, meta.kernel);
      d.initrdPath = path.join(source.dir, meta.initrd);
      const cmdline = [typeof meta.cmdline === 'string' ? meta.cmdline : '', definition.kernel_cmdline ?? ''].filter(Boolean).join(' ');
      definition = {...definition, kernel_cmdline: /\bconsole=ttyS0\b/.test(cmdline) ? cmdline : `${cmdline} console=ttyS0`.trim()};
    }
    // A source box made for SATA/e1000 (metadata disk_bus/nic_model) boots on them, unless the template chose.
    const sourceHardware = hardwareOf(source.metadata as {disk_bus?: unknown; nic_model?: unknown});
    // (An NVMe box is booted from its own GRUB here, which finds the disk on virtio as well.)
    if (sourceHardware && sourceHardware.diskBus !== 'nvme' && definition.disk_interface === 'virtio' && definition.net_device === 'virtio-net-pci') {
      definition = {...definition, disk_interface: sourceHardware.diskBus, net_device: sourceHardware.nicModel};
    }
    // The shared `data` object keeps what the VM step records (pid, QMP, ports) for the later steps.
    await bootStep.run({...state, template: {...state.template, definition}}, signal);
  },
  cleanup: bootStep.cleanup,
};

/** Runs a shell command over SSH with sudo and returns its stdout; a non-zero exit is an error. */
async function capture(comm: SshCommunicator, command: string, signal: AbortSignal, what: string): Promise<string> {
  let out = '';
  let err = '';
  const code = await comm.exec(command, {sudo: true, signal, timeoutMs: 120_000, onOutput: (s, data) => {
    if (s === 'stdout') out += data;
    else err += data;
  }});
  if (code !== 0) throw new BoxError('ERR_BUILD_KERNEL', `${what} failed in the build VM (exit ${code}): ${err.trim() || out.trim()}`, {hint: 'Run with --on-error abort to keep the VM and look at /boot in it.'});
  return out.trim();
}

/**
 * Step (only when the source box boots directly from its own vmlinuz/initrd): copies the
 * NEWEST installed kernel and its initrd out of the guest over SFTP, after the post-install
 * scripts ran. Copying the source box's files instead would go stale as soon as a script
 * upgrades the kernel (the guest's /lib/modules would then no longer match the kernel that
 * boots, and apt may have removed the old modules).
 */
export const extractKernelStep: Step<BuildState> = {
  name: 'extract-kernel',
  async run(state, signal) {
    const source = fromBox(state).source!;
    const meta = source.metadata as {kernel?: unknown; initrd?: unknown};
    if (typeof meta.kernel !== 'string') return;
    const needInitrd = typeof meta.initrd === 'string';
    // The post-install session: the cleanup script may have removed the host keys, so no new connection.
    const comm = await session(state);
    try {
      const version = await capture(comm, `ls -1 /boot | sed -n 's/^vmlinuz-//p' | sort -V | tail -n 1`, signal, 'Finding the newest kernel in /boot');
      if (!version) throw new BoxError('ERR_BUILD_KERNEL', 'The build VM has no /boot/vmlinuz-* any more, but the source box boots its kernel directly.', {hint: 'Do not remove the kernel package in post-install scripts.'});
      // Kernels and initrds may be readable by root only: root copies them world-readable for SFTP.
      const tmp = await capture(comm, [
        'set -e; d=$(mktemp -d /tmp/box-kernel.XXXXXX); chmod 755 "$d"',
        `install -m 0644 /boot/vmlinuz-${version} "$d/vmlinuz"`,
        needInitrd ? `install -m 0644 /boot/initrd.img-${version} "$d/initrd.img"` : ':',
        'echo "$d"',
      ].join('; '), signal, `Copying /boot/vmlinuz-${version}`);
      const local = path.join(state.workDir, 'kernel');
      await mkdir(local, {recursive: true});
      const sftp = await comm.sftp();
      try {
        const get = (remote: string, file: string): Promise<void> => new Promise((resolve, reject) => {
          sftp.fastGet(remote, file, (error) => (error ? reject(new BoxError('ERR_BUILD_KERNEL', `Cannot copy ${remote} out of the build VM: ${error.message}`)) : resolve()));
        });
        await get(`${tmp}/vmlinuz`, path.join(local, 'vmlinuz'));
        if (needInitrd) await get(`${tmp}/initrd.img`, path.join(local, 'initrd.img'));
      } finally {
        sftp.end();
      }
      await capture(comm, `rm -rf ${tmp}`, signal, 'Removing the kernel copy');
      fromBox(state).kernel = {vmlinuz: path.join(local, 'vmlinuz'), initrd: needInitrd ? path.join(local, 'initrd.img') : undefined, version};
      state.ui.info(`kernel ${version} copied out for direct kernel boot`);
    } catch (error) {
      if (signal.aborted) throw new InterruptedError();
      throw error;
    }
  },
};

/** The metadata and extra files of the new box: the source's keys carried over, kernel files refreshed. */
export function boxMetadata(source: InstalledBox, kernel: FromBoxData['kernel']): {extraFiles: Record<string, string>; extraMetadata: Record<string, unknown>} {
  const extraMetadata: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(source.metadata)) if (!OWN_KEYS.has(k)) extraMetadata[k] = v;
  extraMetadata.source_box = {name: source.name, version: source.version, provider: source.provider};
  const extraFiles: Record<string, string> = {};
  if (kernel && typeof source.metadata.kernel === 'string') {
    extraFiles[source.metadata.kernel] = kernel.vmlinuz;
    if (kernel.initrd && typeof source.metadata.initrd === 'string') extraFiles[source.metadata.initrd] = kernel.initrd;
    extraMetadata.kernel_version = kernel.version;
  } else {
    // No fresh copy: direct-boot keys would point at files the box does not carry.
    for (const k of ['kernel', 'initrd', 'cmdline', 'kernel_version']) delete extraMetadata[k];
  }
  return {extraFiles, extraMetadata};
}

/** Step wrapper: sets the artifact after the iso method's shutdown step (disk size and metadata from the source). */
export function finishArtifact(shutdown: Step<BuildState>): Step<BuildState> {
  return {
    ...shutdown,
    async run(state, signal) {
      await shutdown.run(state, signal);
      const d = iso(state);
      const data = fromBox(state);
      const info = await imageInfo(d.disk!, signal);
      state.artifact = {
        imagePath: d.disk!,
        format: 'qcow2',
        virtualSizeGiB: Math.max(1, Math.ceil(info.virtualSize / 1024 ** 3)),
        ...boxMetadata(data.source!, data.kernel),
      };
    },
  };
}
