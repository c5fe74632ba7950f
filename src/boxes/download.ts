import {createHash} from 'node:crypto';
import {createReadStream} from 'node:fs';
import {mkdir, open, rm, stat} from 'node:fs/promises';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import type {Got, Response} from 'got';
import {BoxError, InterruptedError, isAbortError} from '../core/errors.js';
import {readJson, writeJsonAtomic} from '../core/fs-json.js';
import {userPaths} from '../core/paths.js';
import {isNoSpaceError, noSpaceError} from './disk-space.js';

/** Where a box or catalog comes from: a local file or an http(s) URL. */
export type Location = {kind: 'file'; path: string; display: string} | {kind: 'http'; url: string; display: string};

/** Turns what the user typed (path, file:// URL, http(s) URL) into a Location. */
export function parseLocation(text: string, cwd = process.cwd()): Location {
  if (/^https?:\/\//i.test(text)) return {kind: 'http', url: text, display: redactUrl(text)};
  if (/^file:\/\//i.test(text)) {
    const p = fileURLToPath(text);
    return {kind: 'file', path: p, display: p};
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    throw new BoxError('ERR_DOWNLOAD', `Unsupported URL scheme in "${redactUrl(text)}".`, {exitCode: 2, hint: 'Use a local path, a file:// URL or an http(s):// URL.'});
  }
  const p = path.resolve(cwd, text);
  return {kind: 'file', path: p, display: p};
}

/** Hides user:password in URLs shown to people. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password || u.username) {
      u.username = u.username ? '***' : '';
      u.password = u.password ? '***' : '';
    }
    return u.toString();
  } catch {
    return url;
  }
}

export interface ByteSource {
  /** The whole archive from byte 0, in order. */
  chunks: AsyncIterable<Buffer>;
  /** Size of the whole archive when known. */
  total?: number;
  /** Bytes already on disk from an earlier, interrupted download (0 for a fresh one). */
  resumedFrom: number;
  /** After a successful install: forget the partial download. */
  complete(): Promise<void>;
  /** After a failure caused by the content (checksum, unsafe archive): drop the partial too. */
  discard(): Promise<void>;
}

/** In-run resumes of a dropped connection (each with a Range request) before giving up. */
const RETRIES = 3;

const requestOptions = {
  decompress: false,
  retry: {limit: 0},
  throwHttpErrors: false,
  timeout: {lookup: 30_000, connect: 30_000, secureConnect: 30_000, response: 60_000, socket: 120_000},
  headers: {'user-agent': 'box (Vagrant-compatible box store)'},
} as const;

// got is loaded on first use: commands that only look at the store (and `box status`, which
// reaches this module through the providers) should not pay for it at start-up.
let gotPromise: Promise<Got> | undefined;
function loadGot(): Promise<Got> {
  gotPromise ??= import('got').then((m) => m.default);
  return gotPromise;
}

async function fileSize(file: string): Promise<number> {
  return stat(file).then((s) => s.size, () => 0);
}

/** Opens a local file as a byte source (no copy: the box is read once, hashed and extracted). */
export async function openFileSource(file: string): Promise<ByteSource> {
  let size: number;
  try {
    const s = await stat(file);
    if (!s.isFile()) throw new BoxError('ERR_BOX_NOT_FOUND', `${file} is not a file.`, {exitCode: 2, hint: 'Give the path of a .box file, a catalog JSON or a URL.'});
    size = s.size;
  } catch (error) {
    if (error instanceof BoxError) throw error;
    throw new BoxError('ERR_BOX_NOT_FOUND', `Box file ${file} does not exist.`, {exitCode: 2, hint: 'Check the path, or give an http(s):// URL.'});
  }
  return {
    chunks: createReadStream(file, {highWaterMark: 1024 * 1024}),
    total: size,
    resumedFrom: 0,
    complete: async () => undefined,
    discard: async () => undefined,
  };
}

function httpError(url: string, response: Response | {statusCode: number; statusMessage?: string}): BoxError {
  const status = response.statusCode;
  return new BoxError('ERR_DOWNLOAD', `Download of ${redactUrl(url)} failed: HTTP ${status}${response.statusMessage ? ` ${response.statusMessage}` : ''}.`, {
    hint: status === 404 ? 'Check the URL (and the box name/version in the catalog).' : status >= 500 ? 'The server has a problem; try again later.' : 'Check the URL and your access to it.',
    details: {url: redactUrl(url), status},
  });
}

function networkError(url: string, error: unknown, partialBytes: number): BoxError {
  if (error instanceof BoxError) return error;
  const message = (error as Error).message ?? String(error);
  return new BoxError('ERR_DOWNLOAD', `Download of ${redactUrl(url)} failed: ${message}.`, {
    hint: partialBytes > 0 ? `The ${partialBytes} bytes received so far are kept; run the same command again to resume.` : 'Check your network and the URL, then run again.',
    details: {url: redactUrl(url), partialBytes},
    cause: error,
  });
}

/** Opens a streaming GET; resolves once the response headers are in. */
async function request(url: string, headers: Record<string, string>, signal?: AbortSignal): Promise<{response: Response; body: AsyncIterable<Buffer>}> {
  const got = await loadGot();
  const stream = got.stream(url, {...requestOptions, headers: {...requestOptions.headers, ...headers}, signal});
  return new Promise((resolve, reject) => {
    stream.once('response', (response: Response) => resolve({response, body: stream}));
    stream.once('error', (error) => reject(signal?.aborted || isAbortError(error) ? new InterruptedError() : networkError(url, error, 0)));
  });
}

/** The partial download file of a URL (see download-cache.ts for how long it is kept). */
export function partialDownloadPath(url: string): string {
  return path.join(userPaths.downloads(), `box-${createHash('sha1').update(url).digest('hex')}.part`);
}

/**
 * Where a download's partial file and its record (URL, ETag / Last-Modified for If-Range) live,
 * when not in the box downloads folder (installer ISOs keep theirs next to the ISO cache).
 */
export interface PartialLocation {
  partial?: string;
  infoFile?: string;
  /**
   * The partial is keyed by its content (a checksum verified at the end), not by URL: resume it
   * whatever URL it came from (another mirror); If-Range is still sent when the URL is the same.
   */
  resumeAnyPartial?: boolean;
}

interface PartialInfo {
  url: string;
  etag?: string;
  lastModified?: string;
}

/**
 * Opens an http(s) box for streaming. Bytes are appended to a partial file in
 * `userPaths.downloads()` as they arrive, so an interrupted download resumes next time with an
 * HTTP Range request (If-Range guards against a changed file). On resume the partial file is
 * replayed first, then the rest of the body follows: the consumer still sees the whole file
 * from byte 0 in one pass, so the hash and the extraction cover everything. A server that
 * answers 200 to a Range request restarts the download from 0.
 */
export async function openHttpSource(url: string, signal?: AbortSignal, where: PartialLocation = {}): Promise<ByteSource> {
  await mkdir(userPaths.downloads(), {recursive: true});
  const partial = where.partial ?? partialDownloadPath(url);
  const infoFile = where.infoFile ?? `${partial}.json`;
  const info = await readJson<PartialInfo | undefined>(infoFile, undefined);
  const sameUrl = info?.url === url;
  let have = sameUrl || where.resumeAnyPartial ? await fileSize(partial) : 0;
  const ifRange = sameUrl ? info.etag ?? info.lastModified : undefined;

  let {response, body} = have > 0
    ? await request(url, {range: `bytes=${have}-`, ...(ifRange ? {'if-range': ifRange} : {})}, signal)
    : await request(url, {}, signal);

  let total: number | undefined;
  let replayPartial = false;
  if (have > 0 && response.statusCode === 206) {
    const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(response.headers['content-range'] ?? ''));
    if (m && Number(m[1]) === have) {
      replayPartial = true;
      total = m[3] === '*' ? undefined : Number(m[3]);
    } else {
      // A range we did not ask for: start again from 0 rather than guess.
      (body as NodeJS.ReadableStream & {destroy(): void}).destroy();
      ({response, body} = await request(url, {}, signal));
      have = 0;
    }
  } else if (have > 0 && response.statusCode === 416) {
    const m = /^bytes \*\/(\d+)$/.exec(String(response.headers['content-range'] ?? ''));
    (body as NodeJS.ReadableStream & {destroy(): void}).destroy();
    if (m && Number(m[1]) === have) {
      // The earlier run received everything: just replay the partial file.
      return {
        chunks: createReadStream(partial, {highWaterMark: 1024 * 1024}),
        total: have,
        resumedFrom: have,
        complete: () => forget(partial, infoFile),
        discard: () => forget(partial, infoFile),
      };
    }
    ({response, body} = await request(url, {}, signal));
    have = 0;
  } else if (have > 0) {
    // 200 (server ignores Range, or If-Range says the file changed) or an error: from 0.
    have = 0;
  }
  if (response.statusCode >= 400) {
    (body as NodeJS.ReadableStream & {destroy(): void}).destroy();
    throw httpError(url, response);
  }
  if (!replayPartial) {
    const length = Number(response.headers['content-length']);
    total = Number.isFinite(length) && length > 0 ? length : undefined;
    await writeJsonAtomic(infoFile, {
      url,
      etag: typeof response.headers.etag === 'string' && !response.headers.etag.startsWith('W/') ? response.headers.etag : undefined,
      lastModified: response.headers['last-modified'],
    } satisfies PartialInfo);
  }

  const resumedFrom = replayPartial ? have : 0;
  const validator = typeof response.headers.etag === 'string' && !response.headers.etag.startsWith('W/')
    ? response.headers.etag
    : (response.headers['last-modified'] as string | undefined) ?? (replayPartial ? ifRange : undefined);
  async function* chunks(): AsyncGenerator<Buffer> {
    if (replayPartial) yield* createReadStream(partial, {highWaterMark: 1024 * 1024, end: have - 1}) as AsyncIterable<Buffer>;
    const fh = await open(partial, replayPartial ? 'a' : 'w');
    let received = resumedFrom;
    let current = body;
    let retries = 0;
    let diskFull: unknown;
    try {
      while (true) {
        let failure: unknown;
        try {
          for await (const chunk of current) {
            // On disk before it is handed on: whatever the consumer saw can be resumed after.
            await fh.write(chunk).catch((error: unknown) => {
              if (isNoSpaceError(error)) diskFull = error;
              throw error;
            });
            received += chunk.length;
            yield chunk;
          }
          if (total === undefined || received === total) return;
          failure = new Error(`connection closed after ${received} of ${total} bytes`);
        } catch (error) {
          if (signal?.aborted || isAbortError(error)) throw new InterruptedError();
          if (diskFull !== undefined || error instanceof BoxError) throw error; // the disk, not the connection: no resume
          failure = error;
        }
        (current as NodeJS.ReadableStream & {destroy(): void}).destroy();
        // A dropped connection is resumed in the same run with a Range request, but only when
        // the server answers 206 for exactly our offset; anything else fails here and the
        // next run decides (restarting from 0 if Range is not honoured).
        if (retries >= RETRIES || validator === undefined) throw networkError(url, failure, received);
        retries++;
        await new Promise((resolve) => setTimeout(resolve, 300 * retries));
        if (signal?.aborted) throw new InterruptedError();
        const next = await request(url, {range: `bytes=${received}-`, 'if-range': validator}, signal).catch(() => undefined);
        const m = /^bytes (\d+)-/.exec(String(next?.response.headers['content-range'] ?? ''));
        if (!next || next.response.statusCode !== 206 || !m || Number(m[1]) !== received) {
          if (next) (next.body as NodeJS.ReadableStream & {destroy(): void}).destroy();
          throw networkError(url, failure, received);
        }
        current = next.body;
      }
    } finally {
      await fh.close();
      (current as NodeJS.ReadableStream & {destroy(): void}).destroy();
      if (diskFull !== undefined) {
        // A partial that filled the disk is not worth resuming: free the space it took first,
        // so the error says what is free without it.
        await forget(partial, infoFile);
        throw await noSpaceError(path.dirname(partial), {written: received}, diskFull);
      }
    }
  }
  return {chunks: chunks(), total, resumedFrom, complete: () => forget(partial, infoFile), discard: () => forget(partial, infoFile)};
}

async function forget(partial: string, infoFile: string): Promise<void> {
  await rm(partial, {force: true});
  await rm(infoFile, {force: true});
}

export async function openByteSource(location: Location, signal?: AbortSignal): Promise<ByteSource> {
  return location.kind === 'file' ? openFileSource(location.path) : openHttpSource(location.url, signal);
}

/** Fetches a small document (a catalog) as text. */
export async function fetchText(location: Location, signal?: AbortSignal, limit = 20 * 1024 * 1024): Promise<string> {
  if (location.kind === 'file') {
    const {readFile} = await import('node:fs/promises');
    try {
      return await readFile(location.path, 'utf8');
    } catch {
      throw new BoxError('ERR_BOX_NOT_FOUND', `${location.path} does not exist.`, {exitCode: 2, hint: 'Check the path of the catalog.'});
    }
  }
  let response: Response<string>;
  try {
    const got = await loadGot();
    response = await got(location.url, {...requestOptions, decompress: true, headers: {...requestOptions.headers, accept: 'application/json'}, signal});
  } catch (error) {
    if (signal?.aborted || isAbortError(error)) throw new InterruptedError();
    throw networkError(location.url, error, 0);
  }
  if (response.statusCode >= 400) throw httpError(location.url, response);
  if (response.body.length > limit) throw new BoxError('ERR_CATALOG', `${location.display} is too large for a catalog.`, {hint: 'Check the URL.'});
  return response.body;
}

/** HEAD an http URL and tell whether it serves JSON (a catalog), as Vagrant does. */
export async function servesJson(url: string, signal?: AbortSignal): Promise<boolean> {
  try {
    const got = await loadGot();
    const response = await got.head(url, {...requestOptions, signal});
    return /application\/json/i.test(String(response.headers['content-type'] ?? ''));
  } catch {
    return false;
  }
}
