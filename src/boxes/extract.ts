import {createWriteStream} from 'node:fs';
import {lstat, mkdir, open, realpath, rm, symlink, link} from 'node:fs/promises';
import path from 'node:path';
import {Readable, Transform, type Duplex, type TransformCallback} from 'node:stream';
import {pipeline} from 'node:stream/promises';
import {createGunzip} from 'node:zlib';
import type {Header as Headers} from 'tar-stream';
import {BoxError, isAbortError} from '../core/errors.js';
import {lazyRequire} from '../core/lazy-require.js';
import {quoted} from '../core/printable.js';
import {formatBytes} from '../core/ui.js';
import {isNoSpaceError, noSpaceError} from './disk-space.js';
import {MAX_METADATA_BYTES, METADATA_FILE, metadataTooLarge} from './metadata.js';

export interface ExtractResult {
  files: number;
  compression: Compression;
  /** Bytes of the tar stream (after decompression). */
  expandedBytes: number;
}

/**
 * How far a compressed archive may expand. A gzip of zeros expands about 1030:1 (deflate's
 * limit), so a 10 MB file can write 10 GiB. Real boxes hold qcow2 or VMDK images, which store
 * no empty clusters. Measured on the test box (a 10 GiB Debian disk, 269 MiB used): its tar
 * (qcow2 with compressed clusters) gzips 1.04:1, the same disk as a plain qcow2 3.1:1, and even
 * as a 10 GiB raw image, 97% empty, 74:1. A ratio of 200:1 is 60 times above any qcow2 box,
 * 2.7 times above that raw image, and 5 times below a zero bomb; it is checked once 1 GiB has
 * been written (a small archive of padding is legitimately more compressible). A raw image
 * more than ~99% empty can pass it: such a box is added with --max-expansion-ratio. The
 * absolute cap stops what the ratio cannot (a huge archive of moderately compressible data).
 */
export interface ExpansionLimits {
  /** Largest tar stream a compressed archive may expand to, in bytes. */
  maxBytes: number;
  /** Largest ratio of expanded to compressed bytes, checked past RATIO_FLOOR. */
  maxRatio: number;
}

export const DEFAULT_EXPANSION_LIMITS: ExpansionLimits = {maxBytes: 256 * 1024 ** 3, maxRatio: 200};
/** Expanded bytes before the ratio is checked. */
export const RATIO_FLOOR = 1024 ** 3;

export type Compression = 'none' | 'gzip' | 'bzip2' | 'xz' | 'zstd';

/** Detects the compression of a box from its first bytes (never from its file name). */
export function detectCompression(head: Buffer): Compression {
  if (head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.subarray(0, 3).toString('latin1') === 'BZh') return 'bzip2';
  if (head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (head.subarray(0, 4).equals(Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))) return 'zstd';
  return 'none';
}

// gzip is Node's zlib; the rarer bzip2/xz/zstd boxes go through the host's decompressor
// (bzip2, xz-utils and zstd are Debian standard packages) as a stream filter, still one pass.
// Only adding a box reads a tar: other commands never load tar-stream.
const tarStream = lazyRequire<typeof import('tar-stream')>('tar-stream');

const externalTools: Record<'bzip2' | 'xz' | 'zstd', string> = {bzip2: 'bzip2', xz: 'xz', zstd: 'zstd'};

async function decompressor(kind: Compression): Promise<Duplex | undefined> {
  if (kind === 'none') return undefined;
  if (kind === 'gzip') return createGunzip();
  const {execa} = await import('execa');
  return execa(externalTools[kind], ['-dc'], {stdin: 'pipe', stdout: 'pipe', stderr: 'pipe', buffer: false}).duplex();
}

/** Reads the first bytes of an async byte source and returns them with a source that still yields everything. */
async function peek(source: AsyncIterable<Buffer>, bytes: number): Promise<{head: Buffer; rest: AsyncIterable<Buffer>}> {
  const iterator = source[Symbol.asyncIterator]();
  const seen: Buffer[] = [];
  let length = 0;
  let done = false;
  while (length < bytes) {
    const next = await iterator.next();
    if (next.done) {
      done = true;
      break;
    }
    seen.push(next.value);
    length += next.value.length;
  }
  async function* rest(): AsyncGenerator<Buffer> {
    try {
      yield* seen;
      if (done) return;
      while (true) {
        const next = await iterator.next();
        if (next.done) return;
        yield next.value;
      }
    } finally {
      // Stopping early (an unsafe entry) must close the download or file behind us.
      if (!done) await iterator.return?.();
    }
  }
  return {head: Buffer.concat(seen), rest: rest()};
}

function unsafe(source: string, entry: string, why: string): BoxError {
  return new BoxError('ERR_BOX_UNSAFE_PATH', `Refusing to install ${source}: entry "${entry}" ${why}.`, {
    hint: 'The box archive tries to write outside its folder. Do not use it; ask its publisher for a fixed box.',
    details: {entry},
  });
}

/**
 * Turns a tar entry name into a path relative to the box folder, refusing absolute paths and
 * `..`. Backslashes count as separators, as in Vagrant (bsdtar -s).
 */
export function safeRelativePath(name: string, source: string): string {
  const normal = name.replaceAll('\\', '/');
  if (normal.startsWith('/') || /^[a-zA-Z]:/.test(normal)) throw unsafe(source, name, 'is an absolute path');
  const parts = normal.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw unsafe(source, name, 'contains ".."');
  if (parts.some((p) => p.includes('\0'))) throw unsafe(source, name, 'contains a NUL byte');
  return parts.join('/');
}

/** The mode an extracted file gets: the archive's, never group/other-writable, always owner-readable. */
function fileMode(mode: number | undefined): number {
  return ((mode ?? 0o644) & 0o777 & ~0o022) | 0o600;
}

/** Largest sparse map read (20 bytes a number: a million holes). */
const MAX_SPARSE_MAP_BYTES = 40 * 1024 * 1024;

/**
 * Writes a PAX sparse 1.0 entry: its data starts with the map (decimal lines: the number of
 * segments, then offset and size of each, padded to 512 bytes), then the segments' bytes in
 * order. Each segment is written at its offset (the holes stay holes) and the file is cut to
 * its real size. A map that is malformed, out of order, outside the real size or that does not
 * add up to the stored size is ERR_BOX_FORMAT.
 */
async function writeSparseFile(stream: Readable, target: string, o: {realSize: string | undefined; storedSize: number; mode: number; entry: string; source: string}): Promise<void> {
  const bad = (why: string): BoxError => new BoxError('ERR_BOX_FORMAT', `${o.source}: the sparse file entry "${o.entry}" is damaged: ${why}.`, {hint: 'Download the box again, or ask its publisher for a fixed box.', details: {entry: o.entry}});
  const realSize = Number(o.realSize);
  if (!/^\d+$/.test(o.realSize ?? '') || !Number.isSafeInteger(realSize)) throw bad(`its real size ${JSON.stringify(o.realSize)} is not a number`);
  const handle = await open(target, 'w', o.mode);
  try {
    let head: Buffer = Buffer.alloc(0);
    let map: Array<{offset: number; size: number}> | undefined;
    let skip = 0;
    let segment = 0;
    let done = 0;
    for await (const piece of stream as AsyncIterable<Buffer>) {
      let chunk = piece;
      if (!map) {
        head = Buffer.concat([head, chunk]);
        const parsed = parseSparseMap(head);
        if (parsed === undefined) {
          if (head.length > MAX_SPARSE_MAP_BYTES) throw bad('its map is too large');
          continue;
        }
        if (typeof parsed === 'string') throw bad(parsed);
        map = parsed.map;
        let end = 0;
        for (const seg of map) {
          if (seg.offset < end || seg.offset + seg.size > realSize) throw bad('its map is out of order or past its real size');
          end = seg.offset + seg.size;
        }
        const padded = Math.ceil(parsed.textBytes / 512) * 512;
        if (padded + map.reduce((sum, seg) => sum + seg.size, 0) !== o.storedSize) throw bad('its map does not match its stored size');
        chunk = head.subarray(Math.min(padded, head.length));
        skip = Math.max(0, padded - head.length);
      }
      if (skip > 0) {
        const n = Math.min(skip, chunk.length);
        skip -= n;
        chunk = chunk.subarray(n);
      }
      while (chunk.length > 0) {
        while (segment < map.length && done === map[segment].size) {
          segment++;
          done = 0;
        }
        if (segment >= map.length) throw bad('it holds more data than its map');
        const n = Math.min(chunk.length, map[segment].size - done);
        await handle.write(chunk, 0, n, map[segment].offset + done);
        done += n;
        chunk = chunk.subarray(n);
      }
    }
    if (!map) throw bad('its map is cut short');
    await handle.truncate(realSize);
  } finally {
    await handle.close();
  }
}

/** The sparse map at the start of `data`: undefined while incomplete, a string saying what is wrong. */
function parseSparseMap(data: Buffer): {map: Array<{offset: number; size: number}>; textBytes: number} | string | undefined {
  const numbers: number[] = [];
  let start = 0;
  let count: number | undefined;
  for (let i = 0; i < data.length; i++) {
    if (data[i] !== 0x0a) continue;
    const text = data.subarray(start, i).toString('latin1');
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text))) return `its map holds ${JSON.stringify(text.slice(0, 20))}`;
    numbers.push(Number(text));
    start = i + 1;
    count ??= numbers[0];
    if (count > 1_000_000) return 'its map has too many segments';
    if (numbers.length === 1 + 2 * count) {
      const map = Array.from({length: count}, (_, k) => ({offset: numbers[1 + 2 * k], size: numbers[2 + 2 * k]}));
      return {map, textBytes: start};
    }
  }
  return undefined;
}

function isInside(root: string, candidate: string): boolean {
  const rel = path.relative(root, candidate);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

function tooLarge(source: string, why: string, flag: string, details: Record<string, unknown>): BoxError {
  return new BoxError('ERR_BOX_TOO_LARGE', `Refusing to install ${source}: ${why}. It looks like a decompression bomb, not a box; what was written is removed.`, {
    hint: `If you trust this box, run again with ${flag} (see \`box box add --help\`); an http download is kept for that.`,
    details,
  });
}

/**
 * Sits between the decompressor and the tar parser: counts the tar stream, enforces the
 * expansion limits of compressed archives, and keeps the last bytes so the end-of-archive
 * marker can be checked once the stream ends.
 */
class TarStreamWatch extends Transform {
  total = 0;
  private tailChunks: Buffer[] = [];
  private tailLength = 0;
  static readonly TAIL = 64 * 1024;

  constructor(private readonly check?: {limits: ExpansionLimits; compressedBytes: () => number; source: string}) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.total += chunk.length;
    if (this.check) {
      const {limits, compressedBytes, source} = this.check;
      const compressed = Math.max(compressedBytes(), 1);
      if (this.total > limits.maxBytes) {
        callback(tooLarge(source, `it expands to more than ${formatBytes(limits.maxBytes)}`, '--max-expanded-size', {expandedBytes: this.total, compressedBytes: compressed, maxBytes: limits.maxBytes}));
        return;
      }
      if (this.total > RATIO_FLOOR && this.total / compressed > limits.maxRatio) {
        callback(tooLarge(source, `${formatBytes(compressed)} of it expanded to ${formatBytes(this.total)}, more than ${limits.maxRatio} times its compressed size`, '--max-expansion-ratio', {expandedBytes: this.total, compressedBytes: compressed, maxRatio: limits.maxRatio}));
        return;
      }
    }
    this.tailChunks.push(chunk);
    this.tailLength += chunk.length;
    while (this.tailChunks.length > 1 && this.tailLength - this.tailChunks[0].length >= TarStreamWatch.TAIL) this.tailLength -= this.tailChunks.shift()!.length;
    callback(null, chunk);
  }

  /** The last `bytes` bytes seen (fewer if the stream was shorter or they were not kept). */
  tail(bytes: number): Buffer {
    const all = Buffer.concat(this.tailChunks);
    return all.subarray(Math.max(0, all.length - bytes));
  }
}

/**
 * Resolves a symbolic link's target the way the file system will, but on the archive's own
 * records: from the link's folder, component by component, replacing each component that is a
 * link of the archive by its target. Returns the resolved path relative to the box, or why it
 * leaves the box. Links not yet extracted count too, so the same walk run after the last entry
 * catches a chain completed by a later link, whether or not its final target exists.
 */
function resolveInArchive(linkRel: string, links: ReadonlyMap<string, string>): {inside: true; rel: string} | {inside: false; why: string} {
  const current = linkRel.split('/').slice(0, -1);
  let pending = (links.get(linkRel) ?? '').replaceAll('\\', '/').split('/');
  let hops = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (current.length === 0) return {inside: false, why: 'leads outside the box'};
      current.pop();
      continue;
    }
    current.push(part);
    const target = links.get(current.join('/'));
    if (target === undefined) continue;
    if (++hops > 40) return {inside: false, why: 'is part of a loop of links'};
    if (target.startsWith('/') || /^[a-zA-Z]:/.test(target)) return {inside: false, why: `leads to the absolute path ${quoted(target)}`};
    current.pop();
    pending = [...target.replaceAll('\\', '/').split('/'), ...pending];
  }
  return {inside: true, rel: current.join('/')};
}

/**
 * Extracts a box archive (tar, tar.gz, tar.bz2, tar.xz, tar.zst) streamed from `chunks` into
 * `dest`, which must exist and be empty. Refuses (ERR_BOX_UNSAFE_PATH / ERR_BOX_UNSAFE_ENTRY)
 * absolute paths, `..`, links whose target leaves `dest`, writes through a link, devices and
 * FIFOs; a damaged archive is ERR_BOX_FORMAT. The caller removes `dest` on failure. Every byte
 * of `chunks` is consumed (so a hash computed on the way covers the whole file).
 */
export async function extractArchive(chunks: AsyncIterable<Buffer>, dest: string, source: string, signal?: AbortSignal, limits: ExpansionLimits = DEFAULT_EXPANSION_LIMITS): Promise<ExtractResult> {
  const {head, rest} = await peek(chunks, 6);
  if (head.length === 0) throw new BoxError('ERR_BOX_FORMAT', `${source} is empty.`, {hint: 'Check the file or URL; a box is a tar archive.'});
  const compression = detectCompression(head);
  if (compression === 'none' && head.toString('utf8').trimStart().startsWith('{')) {
    throw new BoxError('ERR_BOX_FORMAT', `${source} is JSON, not a box archive.`, {
      hint: 'If it is a Vagrant catalog, serve it with Content-Type application/json or from a URL ending in .json, then run `box box add URL` without a name.',
    });
  }
  const root = await realpath(dest);
  const regularFiles = new Set<string>();
  const symlinks = new Map<string, string>();
  let files = 0;
  // Where the data of the last entry ends in the tar stream: the end-of-archive marker follows.
  let lastEntryEnd = 0;

  const extract = tarStream().extract();
  const handle = async (header: Headers, stream: Readable): Promise<void> => {
    const dataStart = (header as {byteOffset?: number}).byteOffset;
    if (dataStart !== undefined) lastEntryEnd = dataStart + Math.ceil((header.size ?? 0) / 512) * 512;
    const pax = (header as {pax?: Record<string, string>}).pax;
    // A file with holes (a disk image after virt-sparsify) packed by bsdtar (as `vagrant package`
    // does) or GNU tar --format=posix -S: PAX sparse 1.0, its real name in GNU.sparse.name.
    const sparse = header.type === 'file' && pax?.['GNU.sparse.major'] === '1' && pax['GNU.sparse.minor'] === '0' && pax['GNU.sparse.name'] !== undefined;
    const rel = safeRelativePath(sparse ? pax['GNU.sparse.name'] : header.name, source);
    const target = path.join(root, rel);
    // Never write through a link made earlier in the same archive (link then file under it).
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i++) {
      if (symlinks.has(parts.slice(0, i).join('/'))) throw unsafe(source, header.name, `goes through the symbolic link "${parts.slice(0, i).join('/')}"`);
    }
    // Unknown typeflags (old GNU sparse 'S', vendor extensions) and the older PAX sparse formats
    // (0.0, 0.1) would extract as their compacted data: a silently corrupt disk image.
    if (header.type === null || (!sparse && Object.keys(pax ?? {}).some((k) => k.startsWith('GNU.sparse')))) {
      throw new BoxError('ERR_BOX_FORMAT', `${source}: entry "${header.name}" uses a tar extension box cannot extract (an old sparse file format or an unknown entry type).`, {
        hint: 'Repack the box with bsdtar, GNU tar --format=posix (sparse files as PAX 1.0) or without -S/--sparse.',
        details: {entry: header.name},
      });
    }
    const type = header.type ?? 'file';
    if (type === 'character-device' || type === 'block-device' || type === 'fifo') {
      throw new BoxError('ERR_BOX_UNSAFE_ENTRY', `Refusing to install ${source}: entry "${header.name}" is a ${type.replace('-', ' ')}.`, {
        hint: 'Boxes hold regular files, folders and links only. Do not use this box.',
        details: {entry: header.name, type},
      });
    }
    if (rel === '') {
      if (type !== 'directory') throw unsafe(source, header.name, 'has no file name');
      stream.resume();
      return;
    }
    const replaceable = async (): Promise<void> => {
      await mkdir(path.dirname(target), {recursive: true});
      const existing = await lstat(target).catch(() => undefined);
      if (existing?.isDirectory()) throw new BoxError('ERR_BOX_FORMAT', `${source}: entry "${header.name}" replaces a folder.`, {hint: 'The box archive is malformed.'});
      if (existing) {
        await rm(target, {force: true});
        regularFiles.delete(rel);
        symlinks.delete(rel);
      }
    };
    switch (type as string) {
      case 'directory':
        await mkdir(target, {recursive: true, mode: 0o755});
        stream.resume();
        return;
      case 'file':
      case 'contiguous-file':
        // Never write hundreds of MB that can only be refused afterwards.
        if (rel === METADATA_FILE && (header.size ?? 0) > MAX_METADATA_BYTES) throw metadataTooLarge(source, header.size ?? 0);
        await replaceable();
        if (sparse) {
          await writeSparseFile(stream, target, {realSize: pax['GNU.sparse.realsize'], storedSize: header.size ?? 0, mode: fileMode(header.mode), entry: header.name, source});
          regularFiles.add(rel);
          files++;
          return;
        }
        await pipeline(stream, createWriteStream(target, {mode: fileMode(header.mode)}));
        regularFiles.add(rel);
        files++;
        return;
      case 'symlink': {
        const linkname = header.linkname ?? '';
        if (linkname === '' || path.isAbsolute(linkname) || linkname.startsWith('/') || /^[a-zA-Z]:/.test(linkname)) throw unsafe(source, header.name, `is a symbolic link to the absolute path ${quoted(linkname)}`);
        if (!isInside(root, path.resolve(path.dirname(target), linkname))) throw unsafe(source, header.name, `is a symbolic link to ${quoted(linkname)}, outside the box`);
        // Following the links made so far: lexically inside can still escape through them.
        const resolved = resolveInArchive(rel, new Map([...symlinks, [rel, linkname]]));
        if (!resolved.inside) throw unsafe(source, header.name, `is a symbolic link to ${quoted(linkname)}, which ${resolved.why}`);
        await replaceable();
        await symlink(linkname, target);
        symlinks.set(rel, linkname);
        stream.resume();
        return;
      }
      case 'link': {
        const linkname = header.linkname ?? '';
        let targetRel: string;
        try {
          targetRel = safeRelativePath(linkname, source);
        } catch {
          throw unsafe(source, header.name, `is a hard link to "${linkname}", outside the box`);
        }
        if (!regularFiles.has(targetRel)) throw unsafe(source, header.name, `is a hard link to "${linkname}", which is not a file earlier in the box`);
        await replaceable();
        await link(path.join(root, targetRel), target);
        regularFiles.add(rel);
        files++;
        stream.resume();
        return;
      }
      case 'pax-global-header':
        stream.resume();
        return;
      default:
        throw new BoxError('ERR_BOX_UNSAFE_ENTRY', `Refusing to install ${source}: entry "${header.name}" has the unsupported type ${type}.`, {
          hint: 'Boxes hold regular files, folders and links only.',
          details: {entry: header.name, type},
        });
    }
  };
  extract.on('entry', (header: Headers, entryStream, next) => {
    const stream = entryStream as unknown as Readable;
    // Ctrl-C destroys the entry with an AbortError, possibly before its handler has piped it
    // anywhere: without a listener that error would crash the process instead of the add
    // failing cleanly (the failure itself reaches us through the pipeline).
    stream.on('error', () => undefined);
    handle(header, stream).then(() => next(), (error) => {
      stream.resume();
      next(error as Error);
    });
  });

  const decompress = await decompressor(compression);
  let compressedBytes = 0;
  async function* counted(): AsyncGenerator<Buffer> {
    for await (const chunk of rest) {
      compressedBytes += chunk.length;
      yield chunk;
    }
  }
  const input = Readable.from(counted(), {objectMode: false});
  const watch = new TarStreamWatch(decompress ? {limits, compressedBytes: () => compressedBytes, source} : undefined);
  try {
    await (decompress
      ? pipeline(input, decompress, watch, extract, {signal})
      : pipeline(input, watch, extract, {signal}));
  } catch (error) {
    if (error instanceof BoxError || isAbortError(error) || signal?.aborted) throw error;
    if (isNoSpaceError(error)) throw await noSpaceError(dest, {written: watch.total}, error);
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && compression !== 'none' && compression !== 'gzip') {
      throw new BoxError('ERR_BOX_FORMAT', `${source} is ${compression}-compressed and the ${externalTools[compression]} tool is not installed.`, {
        hint: `Install it (apt-get install ${compression === 'xz' ? 'xz-utils' : compression}) or repack the box as tar.gz.`,
      });
    }
    throw new BoxError('ERR_BOX_FORMAT', `${source} is not a valid box archive (${compression === 'none' ? 'tar' : `${compression}-compressed tar`}): ${(error as Error).message}.`, {
      hint: 'A box is a tar or tar.gz file. Check that the download is complete and the file is really a box.',
      cause: error,
    });
  }
  // A tar ends with two zero blocks; without them it was cut short, possibly exactly between
  // two members (every entry then looks complete, and a box would install without its kernel).
  const trailing = watch.total - lastEntryEnd;
  if (trailing < 1024 || !watch.tail(1024).every((b) => b === 0)) {
    throw new BoxError('ERR_BOX_INCOMPLETE', `${source} is cut short: the tar archive ends without its end-of-archive marker${lastEntryEnd > 0 ? ` (after ${formatBytes(lastEntryEnd)})` : ''}.`, {
      hint: 'Download the box again (a dropped connection or a full disk can cut a file); nothing was installed.',
      details: {expandedBytes: watch.total},
    });
  }
  // Every link again, with all the links of the archive known: a chain completed by a later
  // link must not lead out either, whether or not its final target exists.
  for (const rel of symlinks.keys()) {
    const resolved = resolveInArchive(rel, symlinks);
    if (!resolved.inside) throw unsafe(source, rel, `is a symbolic link that ${resolved.why} (through links of the archive)`);
    const real = await realpath(path.join(root, rel)).catch(() => undefined);
    if (real !== undefined && !isInside(root, real)) throw unsafe(source, rel, 'is a symbolic link that resolves outside the box');
  }
  return {files, compression, expandedBytes: watch.total};
}
