import {createHash} from 'node:crypto';
import {createReadStream, createWriteStream} from 'node:fs';
import {mkdir, readFile, rename, stat} from 'node:fs/promises';
import path from 'node:path';
import {pipeline} from 'node:stream/promises';
import {fileURLToPath} from 'node:url';
import got from 'got';
import {BoxError, InterruptedError, UsageError, errorMessage} from '../../../core/errors.js';
import {readJson, writeJsonAtomic} from '../../../core/fs-json.js';
import {userPaths} from '../../../core/paths.js';
import type {Step} from '../../../core/steps.js';
import type {Ui} from '../../../core/ui.js';
import type {BuildState} from '../index.js';
import {iso} from './state.js';

export interface Checksum {
  algorithm: 'md5' | 'sha1' | 'sha256' | 'sha512';
  hex: string;
}

const isRemote = (url: string): boolean => /^https?:\/\//i.test(url);
const localPath = (url: string, base: string): string => (url.startsWith('file://') ? fileURLToPath(url) : path.resolve(base, url));

/**
 * Resolves a template checksum: "sha256:<hex>", "file:<SUMS url or path>" (the line naming the
 * ISO's file name is used, as Packer does) or "none" (null: nothing to verify against).
 */
export async function resolveChecksum(spec: string, fileUrl: string, base: string, signal?: AbortSignal, fetch: {timeoutMs: number; retries: number} = {timeoutMs: 60_000, retries: 2}): Promise<Checksum | null> {
  if (spec === 'none') return null;
  const direct = /^(md5|sha1|sha256|sha512):([0-9a-fA-F]+)$/.exec(spec);
  if (direct) return {algorithm: direct[1] as Checksum['algorithm'], hex: direct[2].toLowerCase()};
  const sumsUrl = spec.slice('file:'.length);
  let text: string;
  try {
    text = isRemote(sumsUrl) ? await got(sumsUrl, {signal, timeout: {request: fetch.timeoutMs}, retry: {limit: fetch.retries}}).text() : await readFile(localPath(sumsUrl, base), 'utf8');
  } catch (error) {
    throw new BoxError('ERR_CHECKSUM', `Cannot read the checksum file ${sumsUrl}: ${errorMessage(error)}`, {hint: 'Check the URL, or give the checksum inline as sha256:<hex>.'});
  }
  const name = path.basename(new URL(fileUrl, 'file:///').pathname);
  for (const line of text.split('\n')) {
    // GNU style "<hex>  name" or "<hex> *name", and BSD style "SHA256 (name) = <hex>".
    const gnu = /^([0-9a-fA-F]{32,128})\s+\*?(\S+)$/.exec(line.trim());
    const bsd = /^\w+ \((.+)\) = ([0-9a-fA-F]{32,128})$/.exec(line.trim());
    const [hex, file] = gnu ? [gnu[1], gnu[2]] : bsd ? [bsd[2], bsd[1]] : [];
    if (hex && file && path.basename(file) === name) {
      const algorithm = ({32: 'md5', 40: 'sha1', 64: 'sha256', 128: 'sha512'} as const)[hex.length as 32 | 40 | 64 | 128];
      if (algorithm) return {algorithm, hex: hex.toLowerCase()};
    }
  }
  throw new BoxError('ERR_CHECKSUM', `The checksum file ${sumsUrl} has no line for "${name}".`, {hint: 'The ISO was probably renamed upstream: update iso.urls in the template.'});
}

/**
 * The installer's identity for the build's cache key. A "file:" checksum is resolved now and
 * remembered, so that offline (SUMS file unreachable) the key is the same and a cached build is
 * still found; a local ISO without a checksum is identified by its size and modification time.
 */
export async function isoIdentityForKey(spec: string, url: string, base: string): Promise<string> {
  if (spec === 'none') {
    if (isRemote(url)) return `none ${url}`;
    const info = await stat(localPath(url, base)).catch(() => undefined);
    return info ? `none size=${info.size} mtime=${Math.round(info.mtimeMs)}` : `none ${url}`;
  }
  if (!spec.startsWith('file:')) return spec;
  const memoFile = path.join(userPaths.cache(), 'resolved-checksums.json');
  const key = `${spec} ${url}`;
  const memo = await readJson<Record<string, string>>(memoFile, {}).catch(() => ({} as Record<string, string>));
  const checksum = await resolveChecksum(spec, url, base, undefined, {timeoutMs: 10_000, retries: 0}).catch(() => undefined);
  // Unreachable now: the last value seen, else the spec (the build itself then fails clearly).
  if (!checksum) return memo[key] ?? spec;
  const value = `${checksum.algorithm}:${checksum.hex}`;
  if (memo[key] !== value) {
    await mkdir(path.dirname(memoFile), {recursive: true});
    await writeJsonAtomic(memoFile, {...memo, [key]: value});
  }
  return value;
}

export async function hashFile(file: string, algorithm: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash(algorithm);
  await pipeline(createReadStream(file), hash, {signal});
  return hash.digest('hex');
}

/** The cache file for an ISO: keyed by its checksum, so a renamed mirror URL still hits. */
export function isoCachePath(checksum: Checksum | null, url: string, cacheDir?: string): string {
  const key = checksum ? `${checksum.algorithm}-${checksum.hex}` : `url-${createHash('sha256').update(url).digest('hex').slice(0, 32)}`;
  return path.join(isoCacheDir(cacheDir), `${key}.iso`);
}

/** Where installer ISOs are kept: `isos/` in the build's cache folder (default `$BOX_HOME/cache`). */
export function isoCacheDir(cacheDir = userPaths.cache()): string {
  return path.join(cacheDir, 'isos');
}

/**
 * Gets one installer file: a local path or file:// URL is verified and used in place; a
 * remote one is downloaded into the ISO cache (resuming a `.part` left by an interrupted
 * download), verified while it streams, and only then renamed into place.
 */
export async function fetchVerified(url: string, checksum: Checksum | null, options: {base: string; ui: Ui; signal: AbortSignal; label: string; cacheDir?: string}): Promise<string> {
  if (!isRemote(url)) {
    const file = localPath(url, options.base);
    if (!(await stat(file).catch(() => undefined))?.isFile()) throw new UsageError('ERR_ISO_NOT_FOUND', `${options.label} "${url}" does not exist.`, {hint: `Looked for ${file}.`});
    await verify(file, checksum, url, options.signal);
    return file;
  }
  const target = isoCachePath(checksum, url, options.cacheDir);
  if (checksum && (await stat(target).catch(() => undefined))?.isFile()) {
    options.ui.info(`${options.label}: cached ${target}`);
    return target;
  }
  await mkdir(path.dirname(target), {recursive: true});
  const part = `${target}.part`;
  let hash: ReturnType<typeof createHash> | undefined;
  try {
    hash = await downloadTo(url, part, checksum, options, true);
  } catch (error) {
    if (!(error instanceof RestartDownload)) throw error;
    hash = await downloadTo(url, part, checksum, options, false);
  }
  if (checksum) {
    const actual = hash!.digest('hex');
    if (actual !== checksum.hex) {
      await rename(part, `${part}.bad`).catch(() => undefined);
      throw new BoxError('ERR_CHECKSUM', `${url} has ${checksum.algorithm} ${actual}, expected ${checksum.hex}.`, {hint: 'The download is corrupt or the template checksum is out of date; the bad file was moved aside.'});
    }
  }
  await rename(part, target);
  return target;
}

async function verify(file: string, checksum: Checksum | null, url: string, signal: AbortSignal): Promise<void> {
  if (!checksum) return;
  const actual = await hashFile(file, checksum.algorithm, signal);
  if (actual !== checksum.hex) {
    throw new BoxError('ERR_CHECKSUM', `${url} has ${checksum.algorithm} ${actual}, expected ${checksum.hex}.`, {hint: 'Fix iso.checksum in the template or replace the file.'});
  }
}

/** Step: the installer ISO (trying each URL in turn), or the kernel + initrd of a netboot template. */
export const downloadIsoStep: Step<BuildState> = {
  name: 'download-iso',
  async run(state, signal) {
    const t = state.template.definition;
    const d = iso(state);
    const common = {base: state.template.dir, ui: state.ui, signal, cacheDir: state.cacheDir};
    if (t.iso) {
      const failures: string[] = [];
      for (const url of t.iso.urls) {
        try {
          const checksum = await resolveChecksum(t.iso.checksum, url, state.template.dir, signal);
          if (!checksum) state.ui.warn(`iso.checksum is "none": ${url} is used without verification.`);
          d.isoPath = await fetchVerified(url, checksum, {...common, label: 'iso'});
          return;
        } catch (error) {
          if (signal.aborted || (error as BoxError).code === 'ERR_CHECKSUM') throw error;
          failures.push(`${url}: ${errorMessage(error)}`);
        }
      }
      throw new BoxError('ERR_DOWNLOAD', `No URL of iso.urls worked:\n${failures.join('\n')}`, {hint: 'Check the network, or add a mirror URL to iso.urls.'});
    }
    for (const which of ['kernel', 'initrd'] as const) {
      const file = t[which]!;
      const checksum = await resolveChecksum(file.checksum, file.url, state.template.dir, signal);
      const fetched = await fetchVerified(file.url, checksum, {...common, label: which});
      if (which === 'kernel') d.kernelPath = fetched;
      else d.initrdPath = fetched;
    }
  },
};

class RestartDownload extends Error {}

/** Streams `url` into `part` (appending when resuming), hashing everything the file holds. */
async function downloadTo(url: string, part: string, checksum: Checksum | null, options: {ui: Ui; signal: AbortSignal; label: string}, resume: boolean): Promise<ReturnType<typeof createHash> | undefined> {
  const have = resume ? (await stat(part).catch(() => undefined))?.size ?? 0 : 0;
  const hash = checksum ? createHash(checksum.algorithm) : undefined;
  if (hash && have > 0) for await (const chunk of createReadStream(part)) hash.update(chunk as Buffer);
  const progress = options.ui.progress(`${options.label} ${url}${have > 0 ? ` (resuming at ${have} bytes)` : ''}`);
  try {
    const stream = got.stream(url, {signal: options.signal, headers: have > 0 ? {range: `bytes=${have}-`} : {}, timeout: {connect: 30_000, response: 60_000}});
    let status = 0;
    stream.on('response', (res: {statusCode: number}) => {
      status = res.statusCode;
    });
    stream.on('downloadProgress', (p: {transferred: number; total?: number}) => progress.update({transferred: have + p.transferred, total: p.total ? have + p.total : undefined}));
    await pipeline(stream, async function* (source) {
      for await (const chunk of source) {
        // A server that ignores Range sends the whole file again: start over instead of appending.
        if (have > 0 && status !== 206) throw new RestartDownload();
        hash?.update(chunk as Buffer);
        yield chunk;
      }
    }, createWriteStream(part, {flags: have > 0 ? 'a' : 'w'}), {signal: options.signal});
    progress.done();
    return hash;
  } catch (error) {
    if (error instanceof RestartDownload) throw error;
    if (options.signal.aborted) throw new InterruptedError();
    throw new BoxError('ERR_DOWNLOAD', `Downloading ${url} failed: ${errorMessage(error)} (the partial file ${part} is kept to resume).`, {hint: 'Run the build again to resume, or try another URL in iso.urls.'});
  }
}
