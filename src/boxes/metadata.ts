import {readFile, stat} from 'node:fs/promises';
import path from 'node:path';
import {BoxError} from '../core/errors.js';
import {orList, quoted} from '../core/printable.js';
import {formatBytes} from '../core/ui.js';
import {providerProblem} from './names.js';

/** The Vagrant provider of each target's boxes (qemu: libvirt), as providers/registry.ts registers them. */
const knownBoxProviders = new Map<string, string>();

export function registerBoxProvider(provider: string, target: string): void {
  knownBoxProviders.set(provider, target);
}

export function boxProviders(): Array<{provider: string; target: string}> {
  return [...knownBoxProviders].map(([provider, target]) => ({provider, target}));
}

/** The box's own `metadata.json` (at the archive root): Vagrant requires only `provider`. */
export type BoxMetadata = Record<string, unknown> & {provider: string};

export const METADATA_FILE = 'metadata.json';

/** A box's metadata.json is a few hundred bytes; anything past this is not metadata (and would not fit in a string). */
export const MAX_METADATA_BYTES = 1024 * 1024;

export function metadataTooLarge(source: string, bytes: number): BoxError {
  return new BoxError('ERR_BOX_BAD_METADATA', `metadata.json of ${source} is ${formatBytes(bytes)}: a box's metadata.json is a small JSON object (at most ${formatBytes(MAX_METADATA_BYTES)}).`, {
    hint: 'This is not a usable box. Its metadata.json should look like {"provider": "libvirt", "format": "qcow2", "virtual_size": 20}.',
    details: {bytes, limit: MAX_METADATA_BYTES},
  });
}

/**
 * Reads and checks `metadata.json` of an extracted box. `source` names the box file or URL for
 * the message. Throws ERR_BOX_NO_METADATA when it is missing, ERR_BOX_BAD_METADATA when it is
 * not a JSON object naming a provider.
 */
export async function readBoxMetadata(dir: string, source: string): Promise<BoxMetadata> {
  let text: string;
  try {
    const file = path.join(dir, METADATA_FILE);
    const {size} = await stat(file);
    if (size > MAX_METADATA_BYTES) throw metadataTooLarge(source, size);
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (error instanceof BoxError) throw error;
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'EISDIR') {
      throw new BoxError('ERR_BOX_NO_METADATA', `${source} is not a box: it has no metadata.json at the root of the archive.`, {
        hint: 'A Vagrant box is a tar (or tar.gz) with metadata.json, e.g. {"provider": "libvirt"}, at its root. Was the archive made from inside the box folder?',
      });
    }
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new BoxError('ERR_BOX_BAD_METADATA', `metadata.json of ${source} is not valid JSON: ${(error as Error).message}.`, {
      hint: 'Fix metadata.json in the box, e.g. {"provider": "libvirt", "format": "qcow2", "virtual_size": 20}.',
    });
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new BoxError('ERR_BOX_BAD_METADATA', `metadata.json of ${source} must be a JSON object (got ${JSON.stringify(parsed)?.slice(0, 60)}).`, {
      hint: 'Use an object such as {"provider": "libvirt"}.',
    });
  }
  const provider = (parsed as Record<string, unknown>).provider;
  if (typeof provider !== 'string' || providerProblem(provider)) {
    throw new BoxError('ERR_BOX_BAD_METADATA', `metadata.json of ${source} does not name a provider (got provider ${typeof provider === 'string' ? quoted(provider) : JSON.stringify(provider)?.slice(0, 60) ?? 'undefined'}).`, {
      hint: `Add "provider": ${orList(boxProviders().map((p) => (p.target === p.provider ? `"${p.provider}"` : `"${p.provider}" (${p.target} target)`)))} to metadata.json.`,
    });
  }
  return parsed as BoxMetadata;
}

/** The disk bus and NIC a guest has drivers for. */
export interface GuestHardware {
  diskBus: 'virtio' | 'sata' | 'ide' | 'nvme';
  nicModel: 'virtio-net-pci' | 'e1000';
}

/**
 * A box built for SATA/IDE and e1000 (Windows has no virtio drivers out of the box) says so in
 * metadata.json (`disk_bus`, `nic_model`, named as vagrant-libvirt's settings); unknown or
 * absent values mean virtio, and all-virtio is undefined.
 */
export function hardwareOf(meta: {disk_bus?: unknown; nic_model?: unknown}): GuestHardware | undefined {
  const diskBus = meta.disk_bus === 'sata' || meta.disk_bus === 'ide' || meta.disk_bus === 'nvme' ? meta.disk_bus : 'virtio';
  const nicModel = meta.nic_model === 'e1000' ? 'e1000' : 'virtio-net-pci';
  return diskBus === 'virtio' && nicModel === 'virtio-net-pci' ? undefined : {diskBus, nicModel};
}
