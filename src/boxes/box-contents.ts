import {chmod, readdir, readFile, realpath, stat} from 'node:fs/promises';
import path from 'node:path';
import {BoxError} from '../core/errors.js';
import {quoted} from '../core/printable.js';
import {inspectDiskImage} from './disk-image.js';
import type {BoxMetadata} from './metadata.js';
import {readBoxVagrantfile, type BoxVagrantfile} from './vagrantfile.js';
import {parseVmdkDescriptor, vmdkDescriptor} from './vmdk.js';

/**
 * Checks an extracted box against what its metadata and format need, before it is listed:
 * a tar cut between two members, or a box that names files it does not hold, must not install
 * as complete; a disk image must not name files outside the box (backing files, data files,
 * VMDK extents). libvirt: box.img is a self-contained image of the declared format, and the
 * kernel/initrd named in metadata.json or the Vagrantfile exist. virtualbox: the .ovf and
 * every file it references, and what each VMDK names, are inside the box. Returns warnings
 * (Vagrantfile settings box does not use) for `box box add` to show.
 */
export interface BoxContents {
  warnings: string[];
  vagrantfile?: BoxVagrantfile;
}

/** Vagrantfile warnings listed at most (then a count of the rest). */
const MAX_WARNINGS = 20;

/** The box image of a libvirt box (vagrant-libvirt's name). */
export const LIBVIRT_IMAGE = 'box.img';

function incomplete(source: string, what: string): BoxError {
  return new BoxError('ERR_BOX_INCOMPLETE', `${source} is not a complete box: ${what}.`, {
    hint: 'The archive may be cut short or made without all the files. Download it again, or ask its publisher for a complete box.',
  });
}

function isInside(root: string, candidate: string): boolean {
  const rel = path.relative(root, candidate);
  return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
}

/**
 * A file the box's own metadata names: a relative path whose real location (links followed)
 * is a regular file inside the box. Returns its absolute path.
 */
async function fileInBox(root: string, name: string, source: string, what: string): Promise<string> {
  if (typeof name !== 'string' || name === '' || path.isAbsolute(name) || name.split(/[\\/]/).includes('..')) {
    throw new BoxError('ERR_BOX_UNSAFE_PATH', `Refusing to install ${source}: ${what} ${quoted(String(name))} is not a file name inside the box.`, {
      hint: 'A box may only refer to its own files. Do not use this box.',
    });
  }
  return existingFileInBox(root, path.join(root, name), source, `${what} ${quoted(name)}`);
}

async function existingFileInBox(root: string, file: string, source: string, what: string): Promise<string> {
  const real = await realpath(file).catch(() => undefined);
  if (real === undefined) throw incomplete(source, `${what} is missing`);
  if (!isInside(root, real)) throw new BoxError('ERR_BOX_UNSAFE_PATH', `Refusing to install ${source}: ${what} resolves outside the box.`, {hint: 'Do not use this box.'});
  if (!(await stat(real)).isFile()) throw incomplete(source, `${what} is not a file`);
  return real;
}

async function verifyLibvirt(root: string, metadata: BoxMetadata, source: string, vagrantfile: BoxVagrantfile | undefined, signal?: AbortSignal): Promise<void> {
  if (metadata.disks !== undefined) {
    throw new BoxError('ERR_BOX_UNSUPPORTED', `${source} is a multi-disk libvirt box ("disks" in metadata.json, vagrant-libvirt's format v2): not supported yet.`, {
      hint: 'Package the box with one disk (VAGRANT_LIBVIRT_BOX_FORMAT_VERSION=v1 vagrant package), as box.img.',
    });
  }
  const format = metadata.format === undefined ? 'qcow2' : String(metadata.format);
  const image = await existingFileInBox(root, path.join(root, LIBVIRT_IMAGE), source, `its disk image ${LIBVIRT_IMAGE}`);
  await inspectDiskImage(image, format, signal);
  for (const field of ['kernel', 'initrd'] as const) {
    if (metadata[field] !== undefined) await fileInBox(root, metadata[field] as string, source, `metadata.json's ${field}`);
  }
  for (const field of ['kernel', 'initrd'] as const) {
    const file = vagrantfile?.libvirt[field];
    if (file !== undefined) await existingFileInBox(root, file, source, `the Vagrantfile's libvirt.${field} ${quoted(path.relative(root, file))}`);
  }
}

// The XML parser is loaded when a virtualbox box is checked: `box status` reaches this module
// through the box store and should not pay for it.
async function ovfParser() {
  const {XMLParser} = await import('fast-xml-parser');
  return new XMLParser({ignoreAttributes: false, removeNSPrefix: true, attributeNamePrefix: '@', isArray: (name) => name === 'File'});
}

async function verifyVirtualbox(root: string, source: string): Promise<void> {
  const entries = await readdir(root);
  const ovfName = entries.includes('box.ovf') ? 'box.ovf' : entries.filter((f) => f.endsWith('.ovf')).sort()[0];
  if (!ovfName) throw incomplete(source, 'a virtualbox box needs box.ovf, and it has no .ovf file');
  const ovfFile = await existingFileInBox(root, path.join(root, ovfName), source, ovfName);
  let refs: string[];
  try {
    const doc = (await ovfParser()).parse(await readFile(ovfFile, 'utf8')) as {Envelope?: {References?: {File?: Array<Record<string, string>>}}};
    if (!doc.Envelope) throw new Error('no Envelope element');
    refs = (doc.Envelope.References?.File ?? []).map((f) => f['@href']);
  } catch (error) {
    throw new BoxError('ERR_BOX_INVALID', `${ovfName} of ${source} is not a readable OVF descriptor: ${(error as Error).message}.`, {hint: 'The box is damaged; download it again.'});
  }
  if (refs.length === 0) throw incomplete(source, `${ovfName} references no disk`);
  const disks = new Set<string>();
  for (const href of refs) disks.add(await fileInBox(root, href, source, `the disk ${ovfName} references`));
  // Every VMDK in the box, referenced or not: VirtualBox opens what the OVF names, but a box
  // tool (or a user) may open the others.
  for (const name of entries.filter((f) => f.toLowerCase().endsWith('.vmdk'))) disks.add(path.join(root, name));
  for (const disk of disks) {
    const descriptor = await vmdkDescriptor(disk);
    if (descriptor === undefined) continue;
    const refsOf = parseVmdkDescriptor(descriptor.text);
    const name = path.relative(root, disk);
    if (refsOf.parent !== undefined) {
      throw new BoxError('ERR_BOX_UNSAFE_IMAGE', `Refusing the disk image ${name} of ${source}: it is a delta disk of the parent ${quoted(refsOf.parent)}, which VirtualBox would open on this host.`, {
        hint: 'A box image must contain the whole disk. Do not use this box; its publisher can export a flat (stream-optimized) VMDK.',
      });
    }
    if (descriptor.embedded && refsOf.extents.length > 1) {
      throw new BoxError('ERR_BOX_UNSAFE_IMAGE', `Refusing the disk image ${name} of ${source}: a sparse VMDK naming ${refsOf.extents.length} extents.`, {hint: 'Do not use this box.'});
    }
    for (const extent of refsOf.extents) {
      if (extent.file === undefined) continue;
      if (/^VMFS(RDM|RAW|PASSTHROUGHRAW)$/.test(extent.type)) {
        throw new BoxError('ERR_BOX_UNSAFE_IMAGE', `Refusing the disk image ${name} of ${source}: its extent ${quoted(extent.file)} maps a raw device.`, {hint: 'Do not use this box.'});
      }
      if (path.isAbsolute(extent.file) || extent.file.split(/[\\/]/).includes('..') || !isInside(root, path.resolve(path.dirname(disk), extent.file))) {
        throw new BoxError('ERR_BOX_UNSAFE_IMAGE', `Refusing the disk image ${name} of ${source}: its extent ${quoted(extent.file)} is outside the box, and VirtualBox would read it from this host.`, {
          hint: 'A box image must contain the whole disk. Do not use this box.',
        });
      }
      // A sparse VMDK's embedded descriptor names the file itself, by the name it had when it
      // was made (a box may have renamed it): only a separate descriptor's extents must exist.
      if (!descriptor.embedded) await existingFileInBox(root, path.resolve(path.dirname(disk), extent.file), source, `the extent ${quoted(extent.file)} of ${name}`);
    }
  }
}

/** See BoxContents. `dir` is the extracted box, `source` names it for messages. */
export async function verifyBoxContents(dir: string, metadata: BoxMetadata, source: string, signal?: AbortSignal): Promise<BoxContents> {
  const root = await realpath(dir);
  const vagrantfile = await readBoxVagrantfile(root, metadata.provider);
  if (metadata.provider === 'libvirt') await verifyLibvirt(root, metadata, source, vagrantfile, signal);
  if (metadata.provider === 'virtualbox') await verifyVirtualbox(root, source);
  // ssh(1) refuses a private key others can read; the packed key is the box's, not the user's.
  if (vagrantfile?.ssh.privateKeyPath) {
    const key = await existingFileInBox(root, vagrantfile.ssh.privateKeyPath, source, `the Vagrantfile's config.ssh.private_key_path ${quoted(path.relative(root, vagrantfile.ssh.privateKeyPath))}`);
    await chmod(key, 0o600);
  }
  const all = (vagrantfile?.notUnderstood ?? []).map((n) => `${n.file}${n.line ? `:${n.line}` : ''}: ${n.text ? `${n.text}: ` : ''}${n.why}; ignored.`);
  // A long Vagrantfile of settings for other tools must not bury the add in warnings.
  const warnings = all.length > MAX_WARNINGS ? [...all.slice(0, MAX_WARNINGS), `... and ${all.length - MAX_WARNINGS} more settings of the Vagrantfile that box does not use.`] : all;
  return {warnings, ...(vagrantfile ? {vagrantfile} : {})};
}
