import {open} from 'node:fs/promises';

/**
 * What a VMDK names besides itself. A VMDK is a descriptor (a text file, or one embedded in a
 * sparse "KDMV" file) whose extent lines name the files holding the data, by any path
 * (`RW 2048 FLAT "/etc/shadow" 0`), and whose delta disks name a parent
 * (`parentFileNameHint`). VirtualBox and QEMU open whatever is named, so a box's VMDKs are
 * read here, without either, and checked against the box folder by the caller.
 */
export interface VmdkReferences {
  /** The parent of a delta disk (parentCID other than ffffffff, or parentFileNameHint). */
  parent?: string;
  /** Each extent: its type (FLAT, SPARSE, ZERO, VMFSRDM...) and file name as written (none for ZERO). */
  extents: Array<{type: string; file?: string}>;
}

/** A VMDK's descriptor: text, and whether it is embedded in a sparse file (whose one extent is that file itself). */
export interface VmdkDescriptor {
  text: string;
  embedded: boolean;
}

/** Longest descriptor read (VMware's own are under 1 KiB; embedded ones take a few sectors). */
const MAX_DESCRIPTOR_BYTES = 1024 * 1024;

async function readRange(file: string, position: number, length: number): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(length);
    const {bytesRead} = await handle.read(buffer, 0, length, position);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** The descriptor of a VMDK, or undefined when `file` is not a VMDK. */
export async function vmdkDescriptor(file: string): Promise<VmdkDescriptor | undefined> {
  const head = await readRange(file, 0, 512);
  if (head.subarray(0, 4).toString('latin1') === 'KDMV' && head.length >= 44) {
    // Sparse extent header (little-endian): descriptorOffset and descriptorSize, in sectors.
    const offset = Number(head.readBigUInt64LE(28)) * 512;
    const size = Math.min(Number(head.readBigUInt64LE(36)) * 512, MAX_DESCRIPTOR_BYTES);
    if (offset === 0 || size === 0) return {text: '', embedded: true};
    return {text: (await readRange(file, offset, size)).toString('latin1').replace(/\0.*$/s, ''), embedded: true};
  }
  if (head.subarray(0, 21).toString('latin1') === '# Disk DescriptorFile') {
    return {text: (await readRange(file, 0, MAX_DESCRIPTOR_BYTES)).toString('latin1'), embedded: false};
  }
  return undefined;
}

/** Parses the extent lines and parent fields of a VMDK descriptor. */
export function parseVmdkDescriptor(text: string): VmdkReferences {
  const refs: VmdkReferences = {extents: []};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const field = /^([A-Za-z.]+)\s*=\s*"?([^"]*)"?$/.exec(line);
    if (field) {
      const [, key, value] = field;
      if (key === 'parentFileNameHint' && value !== '') refs.parent = value;
      if (key === 'parentCID' && value.toLowerCase() !== 'ffffffff' && refs.parent === undefined) refs.parent = `(parent CID ${value})`;
      continue;
    }
    // ACCESS SIZE TYPE ["FILE" [OFFSET]]: RW 41943040 SPARSE "box-disk001.vmdk"
    const extent = /^(RW|RDONLY|NOACCESS)\s+\d+\s+([A-Z]+)(?:\s+"([^"]*)")?/i.exec(line);
    if (extent) refs.extents.push({type: extent[2].toUpperCase(), ...(extent[3] === undefined ? {} : {file: extent[3]})});
  }
  return refs;
}
