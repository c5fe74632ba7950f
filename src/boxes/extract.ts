import {execa} from 'execa';
import {createWriteStream} from 'node:fs';
import {lstat, mkdir, realpath, rm, symlink, link} from 'node:fs/promises';
import path from 'node:path';
import {Readable, type Duplex} from 'node:stream';
import {pipeline} from 'node:stream/promises';
import {createGunzip} from 'node:zlib';
import tar, {type Header as Headers} from 'tar-stream';
import {BoxError, isAbortError} from '../core/errors.js';

export interface ExtractResult {
  files: number;
  compression: Compression;
}

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
const externalTools: Record<'bzip2' | 'xz' | 'zstd', string> = {bzip2: 'bzip2', xz: 'xz', zstd: 'zstd'};

function decompressor(kind: Compression): Duplex | undefined {
  if (kind === 'none') return undefined;
  if (kind === 'gzip') return createGunzip();
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

function isInside(root: string, candidate: string): boolean {
  const rel = path.relative(root, candidate);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * Extracts a box archive (tar, tar.gz, tar.bz2, tar.xz, tar.zst) streamed from `chunks` into
 * `dest`, which must exist and be empty. Refuses (ERR_BOX_UNSAFE_PATH / ERR_BOX_UNSAFE_ENTRY)
 * absolute paths, `..`, links whose target leaves `dest`, writes through a link, devices and
 * FIFOs; a damaged archive is ERR_BOX_FORMAT. The caller removes `dest` on failure. Every byte
 * of `chunks` is consumed (so a hash computed on the way covers the whole file).
 */
export async function extractArchive(chunks: AsyncIterable<Buffer>, dest: string, source: string, signal?: AbortSignal): Promise<ExtractResult> {
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
  const symlinks = new Set<string>();
  let files = 0;

  const extract = tar.extract();
  const handle = async (header: Headers, stream: Readable): Promise<void> => {
    const rel = safeRelativePath(header.name, source);
    const target = path.join(root, rel);
    // Never write through a link made earlier in the same archive (link then file under it).
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i++) {
      if (symlinks.has(parts.slice(0, i).join('/'))) throw unsafe(source, header.name, `goes through the symbolic link "${parts.slice(0, i).join('/')}"`);
    }
    // Unknown typeflags (GNU sparse 'S', vendor extensions) and PAX sparse files would extract
    // as their compacted data: a silently corrupt disk image. Refuse them with a way out.
    const pax = (header as {pax?: Record<string, string>}).pax;
    if (header.type === null || Object.keys(pax ?? {}).some((k) => k.startsWith('GNU.sparse'))) {
      throw new BoxError('ERR_BOX_FORMAT', `${source}: entry "${header.name}" uses a tar extension box cannot extract (a sparse file or an unknown entry type).`, {
        hint: 'Repack the box without sparse files (GNU tar without -S/--sparse); a qcow2 image is compact already.',
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
        await replaceable();
        await pipeline(stream, createWriteStream(target, {mode: ((header.mode ?? 0o644) & 0o777 & ~0o022) | 0o600}));
        regularFiles.add(rel);
        files++;
        return;
      case 'symlink': {
        const linkname = header.linkname ?? '';
        if (linkname === '' || path.isAbsolute(linkname) || linkname.startsWith('/')) throw unsafe(source, header.name, `is a symbolic link to the absolute path "${linkname}"`);
        if (!isInside(root, path.resolve(path.dirname(target), linkname))) throw unsafe(source, header.name, `is a symbolic link to "${linkname}", outside the box`);
        await replaceable();
        await symlink(linkname, target);
        symlinks.add(rel);
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
    handle(header, stream).then(() => next(), (error) => {
      stream.resume();
      next(error as Error);
    });
  });

  const decompress = decompressor(compression);
  const input = Readable.from(rest, {objectMode: false});
  try {
    await (decompress
      ? pipeline(input, decompress, extract, {signal})
      : pipeline(input, extract, {signal}));
  } catch (error) {
    if (error instanceof BoxError || isAbortError(error) || signal?.aborted) throw error;
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
  // Final check on the real file system: every link must resolve inside the box.
  for (const rel of symlinks) {
    const resolved = await realpath(path.join(root, rel)).catch(() => undefined);
    if (resolved !== undefined && !isInside(root, resolved)) throw unsafe(source, rel, 'is a symbolic link that resolves outside the box');
  }
  return {files, compression};
}
