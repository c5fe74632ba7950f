// OWNER: box store helper. Signature fixed so providers can code against it.
import path from 'node:path';
import type {BaseboxRef} from '../boxfile/project.js';
import {chooseFromCatalog, parseCatalog} from './catalog.js';
import {fetchText, parseLocation} from './download.js';
import {readBoxMetadata} from './metadata.js';
import {findStoredBox, listStoredBoxes, type StoredBox} from './store.js';
import {isValidVersion} from './version.js';
import {BoxError, UsageError} from '../core/errors.js';
import type {Ui} from '../core/ui.js';
import {addBox, isCatalog} from './add.js';

export interface InstalledBox {
  name: string;
  version: string;
  /** Vagrant provider name of the box: 'libvirt' for the qemu target, 'virtualbox', 'aws'. */
  provider: string;
  /** Absolute folder of the box in the store (holds metadata.json, box.img...). */
  dir: string;
  metadata: Record<string, unknown> & {provider: string};
}

/** Name under which a box file or URL without a catalog is stored: its file name without extensions. */
export function nameFromLocation(location: string): string {
  let base = location;
  try {
    if (/^[a-z]+:\/\//i.test(location)) base = decodeURIComponent(new URL(location).pathname);
  } catch {
    // not a URL after all: use it as a path
  }
  const file = path.basename(base).replace(/(\.box|\.tar|\.tgz|\.gz|\.zst|\.xz|\.bz2)+$/i, '');
  return file.replace(/[^A-Za-z0-9._-]/g, '-').replace(/^[^A-Za-z0-9]+/, '') || 'box';
}

async function installed(box: StoredBox): Promise<InstalledBox> {
  return {...box, metadata: await readBoxMetadata(box.dir, box.dir)};
}

/** Adds a box; one added meanwhile by a parallel `up` (same name, version, provider) is fine. */
async function addOnce(options: Parameters<typeof addBox>[0]): Promise<void> {
  try {
    await addBox(options);
  } catch (error) {
    if (!(error instanceof BoxError && error.code === 'ERR_BOX_EXISTS')) throw error;
  }
}

// Parallel `up` of several machines may all need the same box: wait for the one adding it.
const LOCK_WAIT_MS = 60 * 60 * 1000;

/**
 * Finds the box a machine needs in the store (newest version matching the constraint), and adds
 * it first when the Boxfile names a file or URL (or `basebox_url`) and it is not there yet.
 * Throws ERR_BOX_NOT_FOUND with a `box box add` hint otherwise.
 */
export async function resolveBasebox(ref: BaseboxRef | undefined, options: {provider: string; ui: Ui; signal: AbortSignal}): Promise<InstalledBox> {
  const {provider, ui, signal} = options;
  // Validation lets only aws machines with an AMI do without a basebox; anything else that gets
  // here without one is a Boxfile to fix, not a crash.
  if (!ref) {
    throw new UsageError('ERR_NO_BASEBOX', `This machine has no basebox, and the ${provider} provider needs one.`, {
      hint: 'Set basebox in the Boxfile (e.g. "basebox: debian-12"), or for an aws machine targets.aws.ami or ami_filter.',
    });
  }
  const constraint = ref.versionConstraint;
  const exact = constraint && isValidVersion(constraint) ? constraint : undefined;

  if (ref.kind === 'store') {
    const found = await findStoredBox(ref.name, {constraint, provider});
    if (found) return installed(found);
    if (ref.url) {
      ui.info(`Box ${ref.name} (${provider}) is not installed: adding it from ${parseLocation(ref.url).display}`);
      const catalog = await isCatalog(parseLocation(ref.url), signal);
      await addOnce({source: ref.url, name: ref.name, version: catalog ? constraint : exact ?? '0', provider, ui, signal, lockWaitMs: LOCK_WAIT_MS});
      const added = await findStoredBox(ref.name, {constraint, provider});
      if (added) return installed(added);
    }
    const all = await listStoredBoxes();
    const same = all.filter((b) => b.name === ref.name);
    throw new BoxError('ERR_BOX_NOT_FOUND', `Box ${ref.name}${constraint ? ` (${constraint})` : ''} for provider ${provider} is not installed.`, {
      exitCode: 1,
      hint: `Add it with \`box box add ${ref.name} FILE|URL\` or \`box box add CATALOG.json\`, or set basebox_url in the Boxfile. `
        + (same.length ? `Installed versions of ${ref.name}: ${same.map((b) => `${b.version} (${b.provider})`).join(', ')}.` : all.length ? `Installed boxes: ${[...new Set(all.map((b) => `${b.name} ${b.version} (${b.provider})`))].join(', ')}.` : 'No boxes are installed yet.'),
      details: {name: ref.name, constraint, provider, installed: all.map(({name, version, provider: p}) => ({name, version, provider: p}))},
    });
  }

  // A file or URL: a catalog gives name and version; a plain box is stored under its file name.
  const source = ref.name;
  const location = parseLocation(source);
  if (await isCatalog(location, signal)) {
    const catalog = parseCatalog(await fetchText(location, signal), location.display);
    const choice = chooseFromCatalog(catalog, location, {constraint, provider});
    const found = await findStoredBox(choice.name, {constraint: `= ${choice.version}`, provider});
    if (found) return installed(found);
    await addOnce({source, version: constraint, provider, ui, signal, lockWaitMs: LOCK_WAIT_MS});
    const added = await findStoredBox(choice.name, {constraint: `= ${choice.version}`, provider});
    if (added) return installed(added);
  } else {
    const name = nameFromLocation(source);
    const version = exact ?? '0';
    const found = await findStoredBox(name, {constraint: `= ${version}`, provider});
    if (found) return installed(found);
    ui.info(`Adding ${location.display} to the box store as ${name} ${version}`);
    await addOnce({source, name, version, provider, ui, signal, lockWaitMs: LOCK_WAIT_MS});
    const added = await findStoredBox(name, {constraint: `= ${version}`, provider});
    if (added) return installed(added);
  }
  throw new BoxError('ERR_BOX_NOT_FOUND', `Box ${ref.raw} could not be found after adding it.`, {hint: 'Run `box box list` and report this as a bug.'});
}
