import {open, stat} from 'node:fs/promises';
import {BoxError} from '../core/errors.js';
import {run} from '../core/exec.js';
import {quoted} from '../core/printable.js';

/**
 * A box's disk image must be self-contained: a qcow2 can name a backing file or an external
 * data file anywhere on the host (`qemu-img create -b /etc/shadow -F raw box.img`), and QEMU
 * would open it and hand its bytes to the guest. So the header is read here, without QEMU and
 * without opening anything the image names, before `qemu-img info` (with the format given, so
 * nothing is probed) reads the rest. Used by `box box add` and again by `up` before QEMU runs.
 */
export interface DiskImage {
  format: 'qcow2' | 'raw';
  virtualSize: number;
}

const QCOW_MAGIC = Buffer.from([0x51, 0x46, 0x49, 0xfb]);
/** Header extension "DATA": the name of an external data file. */
const EXT_DATA_FILE = 0x44415441;
/** incompatible_features bits (docs/interop/qcow2.txt): 0 dirty, 1 corrupt, 2 external data file, 3 compression type, 4 extended L2. */
const INCOMPAT_CORRUPT = 1n << 1n;
const INCOMPAT_DATA_FILE = 1n << 2n;
const INCOMPAT_KNOWN = 0b11111n;

/** Magic numbers of the image formats QEMU would otherwise guess (and some of which name other files). */
const SIGNATURES: Array<[string, Buffer]> = [
  ['vmdk', Buffer.from('KDMV')],
  ['vmdk (descriptor)', Buffer.from('# Disk DescriptorFile')],
  ['vdi', Buffer.from('<<< ')],
  ['vhdx', Buffer.from('vhdxfile')],
  ['vpc', Buffer.from('conectix')],
  ['qed', Buffer.from('QED\0')],
  ['luks', Buffer.from([0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe])],
  ['parallels', Buffer.from('WithoutFreeSpace')],
  ['dmg', Buffer.from('koly')],
];

function unsafeImage(file: string, why: string, hint?: string): BoxError {
  return new BoxError('ERR_BOX_UNSAFE_IMAGE', `Refusing the disk image ${file}: ${why}.`, {
    hint: hint ?? 'A box image must contain the whole disk itself. Do not use this box; its publisher can flatten the image with `qemu-img convert -O qcow2 IN box.img`.',
    details: {file},
  });
}

function damaged(file: string, why: string): BoxError {
  return new BoxError('ERR_BOX_INVALID', `The disk image ${file} ${why}.`, {
    hint: 'The box is damaged or not a box for this provider. Add it again from its source, or ask its publisher for a fixed box.',
    details: {file},
  });
}

/** The first format whose signature starts `head`, if any. */
function sniff(head: Buffer): string | undefined {
  // qcow (version 1) and qcow2 share the magic.
  if (head.length >= 8 && head.subarray(0, 4).equals(QCOW_MAGIC)) return head.readUInt32BE(4) >= 2 ? 'qcow2' : 'qcow';
  return SIGNATURES.find(([, magic]) => head.subarray(0, magic.length).equals(magic))?.[0]
    // VDI keeps its magic at offset 0x40.
    ?? (head.length >= 0x44 && head.readUInt32LE(0x40) === 0xbeda107f ? 'vdi' : undefined);
}

/** Checks a qcow2 header: no backing file, no external data file, not encrypted or marked corrupt. */
function checkQcow2Header(file: string, head: Buffer): void {
  if (head.length < 72) throw damaged(file, 'is truncated (shorter than a qcow2 header)');
  const version = head.readUInt32BE(4);
  if (version !== 2 && version !== 3) throw damaged(file, `is a qcow2 of version ${version}, which QEMU does not know`);
  const backingOffset = head.readBigUInt64BE(8);
  const backingSize = head.readUInt32BE(16);
  if (backingOffset !== 0n || backingSize !== 0) {
    let name = '';
    if (backingSize > 0 && backingSize <= 1023 && backingOffset + BigInt(backingSize) <= BigInt(head.length)) {
      name = head.subarray(Number(backingOffset), Number(backingOffset) + backingSize).toString('utf8');
    }
    throw unsafeImage(file, `it is a qcow2 overlay whose backing file${name ? ` is ${quoted(name)}` : ' lies outside the box'}: QEMU would read that file from this host`);
  }
  if (head.readUInt32BE(32) !== 0) throw unsafeImage(file, 'it is encrypted (box cannot boot encrypted images)', 'Use an unencrypted image.');
  if (version === 2) return;
  if (head.length < 104) throw damaged(file, 'is truncated (shorter than a qcow2 v3 header)');
  const incompatible = head.readBigUInt64BE(72);
  if (incompatible & INCOMPAT_DATA_FILE) throw unsafeImage(file, 'its data is kept in an external data file (qcow2 data-file): QEMU would open that file on this host');
  if (incompatible & INCOMPAT_CORRUPT) throw damaged(file, 'is marked corrupt by QEMU');
  if (incompatible & ~INCOMPAT_KNOWN) throw damaged(file, `uses qcow2 features this QEMU does not know (incompatible bits 0x${incompatible.toString(16)})`);
  // Header extensions: an external data file name on its own is refused too (belt and braces).
  const headerLength = head.readUInt32BE(100);
  let offset = headerLength;
  while (offset + 8 <= head.length) {
    const type = head.readUInt32BE(offset);
    const length = head.readUInt32BE(offset + 4);
    if (type === 0) break;
    if (type === EXT_DATA_FILE) throw unsafeImage(file, 'it names an external data file (qcow2 data-file): QEMU would open that file on this host');
    offset += 8 + Math.ceil(length / 8) * 8;
  }
}

/** Reads the first cluster of `file` (headers and their extensions fit in it). */
async function readHead(file: string, bytes = 65536): Promise<Buffer> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(bytes);
    const {bytesRead} = await handle.read(buffer, 0, bytes, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/**
 * Checks that `file` is a self-contained image of the `declared` format (qcow2 or raw, as a
 * box's metadata.json says) and returns its format and virtual size. Throws
 * ERR_BOX_UNSAFE_IMAGE for a backing file or external data file, ERR_BOX_INVALID for a damaged
 * image or one of another format, ERR_BOX_UNSUPPORTED for formats box does not boot.
 */
export async function inspectDiskImage(file: string, declared: string, signal?: AbortSignal): Promise<DiskImage> {
  if (declared !== 'qcow2' && declared !== 'raw') {
    throw new BoxError('ERR_BOX_UNSUPPORTED', `The disk image ${file} is declared as ${quoted(declared)}: box boots qcow2 and raw images.`, {
      hint: 'Convert it: `qemu-img convert -O qcow2 IN box.img`, and set "format": "qcow2" in metadata.json.',
    });
  }
  const head = await readHead(file);
  const found = sniff(head);
  if (declared === 'raw') {
    // Read as raw, any bytes are a disk; but a raw image that starts like another format is
    // almost always a mislabelled one, and any tool that probes would read it as that format.
    if (found) throw damaged(file, `is declared raw but is a ${found} image`);
    return {format: 'raw', virtualSize: (await stat(file)).size};
  }
  if (found !== 'qcow2') throw damaged(file, found ? `is declared qcow2 but is a ${found} image` : 'is declared qcow2 but is not a qcow2 image (no qcow2 header)');
  checkQcow2Header(file, head);
  // The header is safe: qemu-img may open it (format given, so nothing is guessed; -U because
  // running machines may hold it shared). It reads no other file.
  const out = await run('qemu-img', ['info', '-U', '-f', 'qcow2', '--output=json', file], {
    errorCode: 'ERR_QEMU_IMG', hint: 'Install QEMU\'s tools (Debian/Ubuntu: `apt-get install qemu-utils`); if they are installed, the image is damaged.', signal, timeoutMs: 60_000,
  });
  const info = JSON.parse(out) as {'virtual-size'?: number; 'backing-filename'?: string; 'format-specific'?: {data?: {'data-file'?: string; corrupt?: boolean}}};
  if (info['backing-filename'] !== undefined) throw unsafeImage(file, `it names the backing file ${quoted(info['backing-filename'])}`);
  if (info['format-specific']?.data?.['data-file'] !== undefined) throw unsafeImage(file, `it names the external data file ${quoted(info['format-specific'].data['data-file']!)}`);
  if (info['format-specific']?.data?.corrupt) throw damaged(file, 'is marked corrupt by QEMU');
  const virtualSize = info['virtual-size'] ?? 0;
  if (!(virtualSize > 0)) throw damaged(file, 'has a virtual size of 0');
  return {format: 'qcow2', virtualSize};
}
