import {createHash} from 'node:crypto';
import {open, readFile, readdir, stat} from 'node:fs/promises';
import path from 'node:path';
import type {BaseboxRef} from '../../../boxfile/project.js';
import {silentUi} from '../../../core/ui.js';
import {resolveBasebox, type InstalledBox} from '../../../boxes/resolve.js';
import type {LoadedTemplate} from '../../template.js';

/** Builds from a box make libvirt (qcow2) boxes from libvirt boxes. */
export const SOURCE_PROVIDER = 'libvirt';

/** The template's `source:` as the store reference `resolveBasebox` takes. */
export function sourceRef(template: LoadedTemplate): BaseboxRef {
  const s = template.definition.source!;
  return {raw: s.version ? `${s.box}@${s.version}` : s.box, kind: 'store', name: s.box, ...(s.version ? {versionConstraint: s.version} : {})};
}

/** Finds the source box in the store (newest version matching the constraint); throws ERR_BOX_NOT_FOUND with an add hint. */
export async function resolveSource(template: LoadedTemplate, signal: AbortSignal = new AbortController().signal): Promise<InstalledBox> {
  const provider = template.definition.source?.provider ?? SOURCE_PROVIDER;
  return resolveBasebox(sourceRef(template), {provider, ui: silentUi(), signal});
}

const SAMPLE = 1024 * 1024;

/**
 * What identifies an installed box without hashing its whole image (a cache hit must answer
 * in well under a second): metadata.json's bytes (a box built by box carries its own inputs
 * hash and build time there), every file's name and size, and sha256 of the first and last
 * MiB of box.img (the qcow2 header and its tail of tables/data change with any rewrite).
 */
export async function sourceIdentity(box: InstalledBox): Promise<Record<string, unknown>> {
  const hash = createHash('sha256');
  hash.update(await readFile(path.join(box.dir, 'metadata.json')));
  const files: Record<string, number> = {};
  for (const name of (await readdir(box.dir)).sort()) {
    const info = await stat(path.join(box.dir, name));
    if (info.isFile()) files[name] = info.size;
  }
  hash.update(JSON.stringify(files));
  const image = path.join(box.dir, 'box.img');
  if (files['box.img'] !== undefined) {
    const fh = await open(image, 'r');
    try {
      const size = files['box.img'];
      for (const position of [0, Math.max(0, size - SAMPLE)]) {
        const buffer = Buffer.alloc(Math.min(SAMPLE, size));
        const {bytesRead} = await fh.read(buffer, 0, buffer.length, position);
        hash.update(buffer.subarray(0, bytesRead));
      }
    } finally {
      await fh.close();
    }
  }
  return {name: box.name, version: box.version, provider: box.provider, digest: hash.digest('hex')};
}
