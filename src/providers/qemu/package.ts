import {existsSync} from 'node:fs';
import {rm, stat} from 'node:fs/promises';
import path from 'node:path';
import {packageLibvirtBox} from '../../boxes/package.js';
import {readBoxMetadata} from '../../boxes/metadata.js';
import {BoxError} from '../../core/errors.js';
import {run} from '../../core/exec.js';
import {readMachineState} from '../../core/state.js';
import {formatBytes} from '../../core/ui.js';
import type {MachineContext, PackagedMachine, PackageMachineOptions, Provider} from '../provider.js';
import {baseBoxSteps, packageOrigin, resetOverSsh, runPackageSteps, statusForPackage, type PackageGuestState, type ResetGuest} from '../shared/package-machine.js';
import type {QemuMachineState} from './qemu-provider.js';
import {convertPercentReader, imageInfo} from './qemu-img.js';

/** Metadata fields that describe one image, made again for the packaged one (never carried over). */
const IMAGE_FIELDS = new Set(['provider', 'format', 'virtual_size', 'box_build', 'box_package']);

interface PackageState extends PackageGuestState {
  /** The flattened, compressed qcow2, next to the output until packaged. */
  image?: string;
}

/**
 * `box package` on the qemu target (Vagrant's `vagrant package`, vagrant-libvirt's package
 * action). The guest is made a base box again over SSH (Vagrant's insecure key back, box's
 * sshd drop-in gone, machine-id and host keys cleared: package-guest.ts), which needs it
 * running: a halted machine is booted for it, a running one is used as it is. Then it is halted
 * (a consistent disk), its overlay flattened with the box image under it into one zstd-compressed
 * qcow2 (`qemu-img convert -c`), and packaged by box's own box writer (boxes/package.ts) with the
 * source box's metadata (kernel, initrd, cmdline, disk bus, NIC) and kernel files carried over.
 *
 * The machine stays usable: it is recorded as needing its key swap again BEFORE the guest
 * changes, so its next `box up` replaces the insecure key as on a first boot. A failure or
 * Ctrl-C removes the temporary image (and the box writer its temp file); a machine whose guest
 * was already reset while it still runs gets its own key back, and one box booted is halted.
 */
export async function packageQemuMachine(provider: Provider, ctx: MachineContext, options: PackageMachineOptions, resetGuest: ResetGuest = resetOverSsh): Promise<PackagedMachine> {
  const {project, machine, ui, signal} = ctx;
  const state = await readMachineState(project.root, machine.name);
  if (!state) throw new BoxError('ERR_NOT_CREATED', `Machine ${machine.name} is not created.`, {hint: `Run \`box up ${machine.name}\` first.`});
  const before = await statusForPackage(provider, ctx);
  const q = state.provider as unknown as QemuMachineState;
  const disk = path.join(ctx.dir, path.basename(q.disk));
  const s: PackageState = {};
  const steps = baseBoxSteps<PackageState>(provider, ctx, before, resetGuest);
  steps.push({
    name: 'compress',
    detail: () => `${path.basename(disk)} + its box image → one qcow2 (zstd)`,
    run: async (st) => {
      st.image = `${options.outputPath}.img-${process.pid}`;
      // Progress: qemu-img's percentage of the virtual disk read, as bytes of it (a bar on a TTY
      // only; the summary line either way).
      const {virtualSize} = await imageInfo(disk, signal);
      const progress = ui.progress('compress');
      let finished = false;
      try {
        await run('qemu-img', ['convert', '-p', '-c', '-O', 'qcow2', '-o', 'compression_type=zstd', disk, st.image], {
          signal, errorCode: 'ERR_QEMU_IMG', timeoutMs: 60 * 60_000, hint: 'Install qemu-utils (apt-get install qemu-utils) and check the disk with `qemu-img check`.',
          onStdout: convertPercentReader((percent) => progress.update({transferred: Math.round(virtualSize * percent / 100), total: virtualSize})),
        });
        finished = true;
      } finally {
        // A failure ends the bar's line too, so the error starts on a line of its own.
        progress.done(finished ? `box.img: ${formatBytes((await stat(st.image)).size)} qcow2 (zstd) from ${formatBytes(virtualSize)} of disk` : 'compress stopped');
      }
    },
    cleanup: async (st) => {
      if (st.image) await rm(st.image, {force: true});
    },
  });
  steps.push({
    name: 'package',
    detail: () => options.outputPath,
    run: async (st) => {
      const carried = await sourceBoxMetadata(state.box?.dir);
      const extraFiles: Record<string, string> = {};
      const metadata: Record<string, unknown> = {...carried};
      delete metadata.kernel;
      delete metadata.initrd;
      if (q.kernel) {
        extraFiles[path.basename(q.kernel.kernel)] = q.kernel.kernel;
        metadata.kernel = path.basename(q.kernel.kernel);
        if (q.kernel.initrd) {
          extraFiles[path.basename(q.kernel.initrd)] = q.kernel.initrd;
          metadata.initrd = path.basename(q.kernel.initrd);
        }
        if (q.kernel.cmdline !== undefined) metadata.cmdline = q.kernel.cmdline;
      }
      metadata.box_package = packageOrigin(ctx, state.box);
      const box = await packageLibvirtBox({imagePath: st.image!, outputPath: options.outputPath, extraFiles, extraMetadata: metadata, hardware: q.hardware, signal});
      const info = JSON.parse(await run('qemu-img', ['info', '--output=json', st.image!], {errorCode: 'ERR_QEMU_IMG'})) as {'virtual-size': number};
      st.packaged = {
        provider: 'libvirt', ...box, halted: before.status === 'running',
        metadata: {provider: 'libvirt', ...metadata, format: 'qcow2', virtual_size: Math.max(1, Math.ceil(info['virtual-size'] / 1024 ** 3))},
      };
    },
  });
  return runPackageSteps(provider, ctx, steps, s);
}

/** The source box's metadata.json fields worth keeping (kernel, initrd, cmdline, disk_bus...), or none when the box is gone. */
async function sourceBoxMetadata(boxDir: string | undefined): Promise<Record<string, unknown>> {
  if (!boxDir || !existsSync(path.join(boxDir, 'metadata.json'))) return {};
  const meta = await readBoxMetadata(boxDir, boxDir);
  return Object.fromEntries(Object.entries(meta).filter(([key]) => !IMAGE_FIELDS.has(key)));
}
