import {existsSync} from 'node:fs';
import {mkdir, mkdtemp, open, readdir, rename, rm, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {pathToFileURL} from 'node:url';
import {chooseFromCatalog, looksLikeCatalog, parseCatalog} from './catalog.js';
import {fetchText, openByteSource, parseLocation, partialDownloadPath, servesJson, type Location} from './download.js';
import {verifyBoxContents} from './box-contents.js';
import {freeBytes, noSpaceError} from './disk-space.js';
import {trimPartialDownloads} from './download-cache.js';
import {DEFAULT_EXPANSION_LIMITS, extractArchive, type ExpansionLimits} from './extract.js';
import {readBoxMetadata, type BoxMetadata} from './metadata.js';
import {boxNameProblem, providerProblem} from './names.js';
import {boxNameDir, diskUsage, removeEmptyParents, storedBoxDir} from './store.js';
import {assertExactVersion} from './version.js';
import {StreamHasher, type ExpectedChecksum} from './verify.js';
import {BoxError, UsageError, throwIfAborted} from '../core/errors.js';
import {withLock} from '../core/lock.js';
import {boxDirName, userPaths} from '../core/paths.js';
import {quoted} from '../core/printable.js';
import {formatBytes, type Progress, type Ui} from '../core/ui.js';
import {machinesUsing} from './in-use.js';

export interface AddBoxOptions {
  /** A box file or catalog: local path, file:// or http(s):// URL. */
  source: string;
  /** Box name; required for a box file, must match the catalog's name for a catalog. */
  name?: string;
  /** Exact version for a box file (default "0"); a constraint for a catalog (newest match). */
  version?: string;
  /** Vagrant provider wanted (libvirt, virtualbox, aws); checked against metadata.json. */
  provider?: string;
  /** Replace an installed box of the same name, version and provider. */
  force?: boolean;
  /** Expected checksum of a box file (catalogs carry their own). */
  checksum?: ExpectedChecksum;
  ui: Ui;
  signal: AbortSignal;
  /** How long to wait for another box process adding the same name (default: fail at once). */
  lockWaitMs?: number;
  cwd?: string;
  /** How far a compressed archive may expand (default DEFAULT_EXPANSION_LIMITS). */
  limits?: ExpansionLimits;
}

/** The JSON contract of `box box add`. */
export interface AddedBox {
  name: string;
  version: string;
  provider: string;
  dir: string;
  /** Bytes on disk of the installed box. */
  size: number;
  /** sha256 of the box archive, computed while it streamed. */
  sha256: string;
  /** The checksum that was given (flag or catalog) and verified. */
  checksum?: ExpectedChecksum;
  /** Where the box came from (URL or path, passwords hidden). */
  source: string;
  /** Bytes reused from an earlier interrupted download. */
  resumedFrom: number;
  metadata: BoxMetadata;
  /** What the box's Vagrantfile sets that box does not use (also printed as warnings). */
  warnings: string[];
}

/** Tells a catalog from a box archive: JSON content (local) or a JSON content type / .json name (http). */
export async function isCatalog(location: Location, signal: AbortSignal): Promise<boolean> {
  if (location.kind === 'file') {
    const fh = await open(location.path, 'r').catch(() => undefined);
    if (!fh) return false;
    try {
      const head = Buffer.alloc(64);
      const {bytesRead} = await fh.read(head, 0, 64, 0);
      return looksLikeCatalog(head.subarray(0, bytesRead));
    } finally {
      await fh.close();
    }
  }
  if (/\.json$/i.test(new URL(location.url).pathname)) return true;
  return servesJson(location.url, signal);
}

/**
 * `box box add`: installs a box from a file, URL or catalog into the store. The archive is
 * read once: hashed, (for http) appended to the resumable partial file and extracted into a
 * temporary folder in the store, all in the same pass. Only when checksum and metadata.json
 * check out is the folder renamed into place; on any failure nothing is left behind.
 */
export async function addBox(options: AddBoxOptions): Promise<AddedBox> {
  const providerWhy = options.provider === undefined ? undefined : providerProblem(options.provider);
  if (providerWhy) throw new UsageError('ERR_USAGE', `Invalid provider ${quoted(options.provider!)}: it ${providerWhy}.`, {hint: 'Use libvirt (qemu target), virtualbox or aws.'});
  const location = parseLocation(options.source, options.cwd);
  if (location.kind === 'file' && !existsSync(location.path)) {
    const shorthand = !options.name && /^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/.test(options.source);
    throw new BoxError('ERR_BOX_NOT_FOUND', `${location.path} does not exist.`, {
      exitCode: 2,
      hint: shorthand
        ? `box does not look boxes up by name on Vagrant Cloud: give the box file, a catalog JSON or a URL (\`box box add ${options.source} FILE|URL\`).`
        : 'Check the path, or give an http(s):// URL.',
    });
  }
  if (await isCatalog(location, options.signal)) {
    const text = await fetchText(location, options.signal);
    const catalog = parseCatalog(text, location.display);
    if (options.name && options.name !== catalog.name) {
      throw new UsageError('ERR_CATALOG_NAME', `Catalog ${location.display} is for "${catalog.name}", not "${options.name}".`, {
        hint: `Run \`box box add ${location.display}\` to add it as "${catalog.name}".`,
      });
    }
    const choice = chooseFromCatalog(catalog, location, {constraint: options.version, provider: options.provider});
    options.ui.info(`Adding ${choice.name} ${choice.version} (${choice.provider}) from catalog ${location.display}`);
    return installBox({...options, name: choice.name, version: choice.version, provider: choice.provider, checksum: choice.checksum}, parseLocation(choice.url), location);
  }
  if (!options.name) {
    throw new UsageError('ERR_BOX_NAME', `${location.display} is a box file, not a catalog: it needs a name.`, {
      hint: `Run \`box box add NAME ${options.source}\` (and --box-version V, default 0).`,
    });
  }
  const nameProblem = boxNameProblem(options.name);
  if (nameProblem) {
    throw new UsageError('ERR_BOX_NAME', `Invalid box name ${quoted(options.name)}: it ${nameProblem}.`, {
      hint: 'For example debian-12 or myorg/debian-12.',
    });
  }
  const version = assertExactVersion(options.version ?? '0');
  return installBox({...options, name: options.name, version}, location, undefined);
}

function existsError(name: string, version: string, provider: string): BoxError {
  return new BoxError('ERR_BOX_EXISTS', `Box ${name} ${version} (${provider}) is already installed.`, {
    hint: 'Add --force to replace it, or give another --box-version.',
    details: {name, version, provider},
  });
}

/**
 * The errors after which the downloaded bytes are worthless (not worth resuming). A box too
 * large to expand is kept (the user may raise the limit), a full disk is not (it holds space
 * on the full disk), a cut tar only when its whole length was known (then it is complete).
 */
function discardsDownload(error: unknown, totalKnown: boolean): boolean {
  if (!(error instanceof BoxError)) return false;
  if (error.code === 'ERR_BOX_INCOMPLETE') return totalKnown;
  return error.code === 'ERR_NO_SPACE' || /^ERR_BOX_(CHECKSUM|UNSAFE|FORMAT|NO_METADATA|BAD_METADATA|PROVIDER_MISMATCH|INVALID|UNSUPPORTED)/.test(error.code);
}

async function installBox(
  options: AddBoxOptions & {name: string; version: string},
  location: Location,
  catalogLocation: Location | undefined,
): Promise<AddedBox> {
  const {name, version} = options;
  if (options.provider && !options.force && existsSync(storedBoxDir(name, version, options.provider))) throw existsError(name, version, options.provider);
  // One add per box name at a time; the lock lives outside the store so Vagrant never sees it.
  const lockTarget = path.join(userPaths.cache(), 'locks', `box-${boxDirName(name)}`);
  return withLock(lockTarget, {what: `box ${name}`, waitMs: options.lockWaitMs}, async () => {
    if (location.kind === 'file') return installLocked(options, location, catalogLocation);
    // The partial download is this add's alone (another name may be fetching the same URL), and
    // `box box prune` must see it in use. Old partials of other URLs are trimmed first.
    const partial = partialDownloadPath(location.url);
    await trimPartialDownloads({keep: partial});
    return withLock(partial, {what: `the download of ${location.display}`, waitMs: options.lockWaitMs}, () => installLocked(options, location, catalogLocation));
  });
}

async function installLocked(
  options: AddBoxOptions & {name: string; version: string},
  location: Location,
  catalogLocation: Location | undefined,
): Promise<AddedBox> {
  const {name, version, ui, signal} = options;
  // Again under the lock: another process may have added it while we waited.
  if (options.provider && !options.force && existsSync(storedBoxDir(name, version, options.provider))) throw existsError(name, version, options.provider);
  const nameDir = boxNameDir(name);
  await mkdir(nameDir, {recursive: true});
  // Leftovers of a process killed with SIGKILL mid-add: under the lock nobody else uses them.
  for (const entry of await readdir(nameDir)) {
    if (entry.startsWith('.tmp-')) await rm(path.join(nameDir, entry), {recursive: true, force: true});
  }
  const temp = await mkdtemp(path.join(nameDir, '.tmp-add-'));
  let replaced: string | undefined;
  let finalDir: string | undefined;
  let installed = false;
  // Asked now, answered by the time the first bytes arrive (a pause then could lose them).
  const free = freeBytes(nameDir);
  const source = await openByteSource(location, signal).catch(async (error) => {
    await rm(temp, {recursive: true, force: true});
    await removeEmptyParents(nameDir);
    throw error;
  });
  let progress: Progress | undefined;
  let progressDone = false;
  const hasher = new StreamHasher(options.checksum);
  try {
    progress = ui.progress(source.resumedFrom > 0 ? `Resuming ${name} at ${source.resumedFrom} bytes` : `Adding ${name}`);
    async function* counted(): AsyncGenerator<Buffer> {
      let spaceChecked = false;
      for await (const chunk of source.chunks) {
        if (!spaceChecked) {
          // Before anything is extracted (here, so that an early stop closes the download).
          // The box takes at least the archive's size once extracted; an http download also
          // keeps the archive itself until the end.
          spaceChecked = true;
          const needed = source.total === undefined ? undefined : source.total + (location.kind === 'http' ? source.total - source.resumedFrom : 0);
          const available = await free;
          if (needed !== undefined && available !== undefined && available < needed) throw await noSpaceError(nameDir, {bytes: needed, atLeast: true});
        }
        hasher.update(chunk);
        progress!.update({transferred: hasher.bytes, total: source.total});
        yield chunk;
      }
    }
    await extractArchive(counted(), temp, location.display, signal, options.limits ?? DEFAULT_EXPANSION_LIMITS);
    progress.done();
    progressDone = true;
    throwIfAborted(signal);
    const digest = hasher.finish(location.display);
    const metadata = await readBoxMetadata(temp, location.display);
    if (options.provider && metadata.provider !== options.provider) {
      throw new BoxError('ERR_BOX_PROVIDER_MISMATCH', `${location.display} is a ${metadata.provider} box, but ${options.provider} was asked for.`, {
        hint: `Use --provider ${metadata.provider}, or pick the ${options.provider} box.`,
        details: {expected: options.provider, actual: metadata.provider},
      });
    }
    // Before it can be listed: complete, self-contained, and what its Vagrantfile sets.
    const contents = await verifyBoxContents(temp, metadata, location.display, signal);
    for (const warning of contents.warnings) ui.warn(`${name}: ${warning}`);
    finalDir = storedBoxDir(name, version, metadata.provider);
    if (existsSync(finalDir)) {
      if (!options.force) throw existsError(name, version, metadata.provider);
      // A qemu machine's disk is an overlay on this box's image: replacing it corrupts the disk.
      const users = await machinesUsing({name, version, provider: metadata.provider});
      if (users.length > 0) {
        throw new BoxError('ERR_BOX_IN_USE', `Box ${name} ${version} (${metadata.provider}) is used by ${users.map((u) => `${u.project}/${u.machine}`).join(', ')}: replacing it would break their disks.`, {
          hint: 'Destroy those machines first (`box destroy`), or add the new box under another --box-version.',
        });
      }
      replaced = path.join(nameDir, `.tmp-old-${process.pid}-${Date.now()}`);
      await rename(finalDir, replaced);
    }
    await mkdir(path.dirname(finalDir), {recursive: true});
    await rename(temp, finalDir);
    installed = true;
    if (catalogLocation) {
      // As Vagrant: remember the catalog so updates can be checked later.
      await writeFile(path.join(nameDir, 'metadata_url'), catalogLocation.kind === 'http' ? catalogLocation.url : pathToFileURL(catalogLocation.path).toString());
    }
    if (replaced) await rm(replaced, {recursive: true, force: true});
    await source.complete();
    const size = await diskUsage(finalDir);
    ui.success(`Added ${name} ${version} (${metadata.provider})`);
    return {
      name, version, provider: metadata.provider, dir: finalDir, size,
      sha256: digest.sha256,
      ...(digest.verified ? {checksum: digest.verified} : {}),
      source: location.display, resumedFrom: source.resumedFrom, metadata, warnings: contents.warnings,
    };
  } catch (error) {
    // Ends the progress line on a terminal so the error starts on a line of its own.
    if (progress && !progressDone) progress.done(`Stopped after ${formatBytes(hasher.bytes)}${source.total ? ` of ${formatBytes(source.total)}` : ''}`);
    if (discardsDownload(error, source.total !== undefined)) await source.discard();
    if (!installed) {
      await rm(temp, {recursive: true, force: true});
      if (replaced && finalDir) await rename(replaced, finalDir).catch(() => undefined);
      await removeEmptyParents(nameDir);
    }
    throw error;
  }
}
