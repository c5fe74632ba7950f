import {createHash} from 'node:crypto';
import {createReadStream} from 'node:fs';
import {mkdir, readFile, rename, stat} from 'node:fs/promises';
import path from 'node:path';
import {pipeline} from 'node:stream/promises';
import {fileURLToPath} from 'node:url';
import got from 'got';
import {openHttpSource} from '../../../boxes/download.js';
import {BoxError, UsageError, errorMessage} from '../../../core/errors.js';
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
  // boxes/download.ts resumes the .part (If-Range when it knows the URL's validator, a restart
  // when the server ignores Range) and replays it first, so the hash covers the whole file.
  const source = await openHttpSource(url, options.signal, {partial: part, infoFile: path.join(userPaths.downloads(), `iso-${path.basename(part)}.json`), resumeAnyPartial: true});
  const hash = checksum ? createHash(checksum.algorithm) : undefined;
  const progress = options.ui.progress(`${options.label} ${url}${source.resumedFrom > 0 ? ` (resuming at ${source.resumedFrom} bytes)` : ''}`);
  let transferred = 0;
  for await (const chunk of source.chunks) {
    hash?.update(chunk);
    transferred += chunk.length;
    progress.update({transferred, total: source.total});
  }
  progress.done();
  if (checksum) {
    const actual = hash!.digest('hex');
    if (actual !== checksum.hex) {
      await rename(part, `${part}.bad`).catch(() => undefined);
      await source.discard();
      throw new BoxError('ERR_CHECKSUM', `${url} has ${checksum.algorithm} ${actual}, expected ${checksum.hex}.`, {hint: 'The download is corrupt or the template checksum is out of date; the bad file was moved aside.'});
    }
  }
  await rename(part, target);
  await source.complete();
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
