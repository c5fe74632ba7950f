/**
 * A cpio archive in the "newc" format, the one the Linux kernel unpacks as an initramfs
 * (Documentation/driver-api/early-userspace/buffer-format.rst). Written in memory: an initrd of a
 * few files and devices needs no cpio binary on the host and no root to create device nodes.
 */

export type CpioEntry =
  | {type: 'dir'; path: string; mode?: number}
  | {type: 'file'; path: string; data: Buffer; mode?: number}
  | {type: 'char'; path: string; major: number; minor: number; mode?: number};

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFCHR = 0o020000;

function header(fields: number[]): string {
  return '070701' + fields.map((n) => n.toString(16).padStart(8, '0')).join('');
}

/** newc pads the header+name and the data each to a multiple of 4 bytes. */
function pad4(length: number): Buffer {
  return Buffer.alloc((4 - (length % 4)) % 4);
}

function record(ino: number, mode: number, data: Buffer, name: string, rdev: [number, number] = [0, 0]): Buffer[] {
  const nameBytes = Buffer.from(`${name}\0`);
  // ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor, namesize, check
  const head = Buffer.from(header([ino, mode, 0, 0, mode & S_IFDIR ? 2 : 1, 0, data.length, 0, 0, rdev[0], rdev[1], nameBytes.length, 0]));
  return [head, nameBytes, pad4(head.length + nameBytes.length), data, pad4(data.length)];
}

/** The archive of `entries`, in order (a folder before what it holds), owned by root, mtime 0. */
export function cpioNewc(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  entries.forEach((e, i) => {
    const name = e.path.replace(/^\/+/, '');
    if (e.type === 'dir') parts.push(...record(i + 1, S_IFDIR | (e.mode ?? 0o755), Buffer.alloc(0), name));
    else if (e.type === 'file') parts.push(...record(i + 1, S_IFREG | (e.mode ?? 0o644), e.data, name));
    else parts.push(...record(i + 1, S_IFCHR | (e.mode ?? 0o600), Buffer.alloc(0), name, [e.major, e.minor]));
  });
  parts.push(...record(0, 0, Buffer.alloc(0), 'TRAILER!!!'));
  return Buffer.concat(parts);
}
