import {existsSync} from 'node:fs';
import path from 'node:path';
import {UsageError} from '../core/errors.js';
import {openMachines, refuseSuspended, withMachine, type LifecycleOptions} from './lifecycle/machines.js';
import {closeSharedConnection} from '../communicators/ssh/shared-connection.js';

export interface PackageOptions extends LifecycleOptions {
  /** The box file to write (default: MACHINE.box in the current folder). */
  output?: string;
  /** Replace an existing output file. */
  force: boolean;
}

export interface PackageResult {
  machine: string;
  target: string;
  /** The Vagrant provider of the box (libvirt for qemu, aws). */
  provider: string;
  box: {path: string; sha256: string; size: number};
  /** The box's metadata.json (virtual_size, kernel, amis...). */
  metadata: Record<string, unknown>;
  /** box halted the running machine to package a consistent disk (it stays halted). */
  halted: boolean;
  durationMs: number;
}

/**
 * `box package [MACHINE] --output FILE.box` (Vagrant's `vagrant package`): a box made from one
 * machine, written by its target (`Provider.package`); a target without it refuses with "not
 * supported yet". The output is checked before the machine is touched: an existing file is kept
 * unless `force`. Under the machine's lock, as every lifecycle command.
 */
export async function packageMachine(options: PackageOptions): Promise<PackageResult> {
  if (options.names.length > 1) throw new UsageError('ERR_USAGE', `box package packages one machine (got ${options.names.join(', ')}).`, {hint: 'Run it once per machine, each with its own --output.'});
  const {project, handles} = await openMachines(options);
  if (handles.length !== 1) {
    throw new UsageError('ERR_USAGE', `This project has ${handles.length} machines; name the one to package.`, {hint: `Machines: ${project.machines.map((m) => m.name).join(', ')}.`});
  }
  const handle = handles[0]!;
  const {machine, provider} = handle;
  if (!provider.package) {
    throw new UsageError('ERR_NOT_SUPPORTED', `box package is not supported yet on ${machine.target}.`, {hint: 'box packages qemu, virtualbox and aws machines.'});
  }
  const outputPath = path.resolve(options.cwd, options.output ?? `${machine.name}.box`);
  if (existsSync(outputPath) && !options.force) {
    throw new UsageError('ERR_OUTPUT_EXISTS', `${outputPath} already exists; nothing was packaged.`, {hint: 'Choose another --output, or replace it with --force.'});
  }
  const t0 = Date.now();
  const packaged = await withMachine(handle, async () => {
    // Its disk belongs to the guest in its saved RAM: neither halted nor running.
    await refuseSuspended(handle, 'box package needs it running or halted; nothing was packaged');
    // Packaging halts a running guest and resets it to a base box first.
    await closeSharedConnection(handle.ctx.dir);
    return provider.package!(handle.ctx, {outputPath});
  });
  handle.ctx.ui.success(`${machine.name} packaged: ${packaged.path}${packaged.halted ? ` (${machine.name} was halted for it)` : ''}`);
  return {
    machine: machine.name, target: machine.target, provider: packaged.provider,
    box: {path: packaged.path, sha256: packaged.sha256, size: packaged.size}, metadata: packaged.metadata, halted: packaged.halted, durationMs: Date.now() - t0,
  };
}
