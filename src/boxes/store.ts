import {lstat, readdir, rm, rmdir} from 'node:fs/promises';
import path from 'node:path';
import {boxDirName, boxNameFromDir, userPaths} from '../core/paths.js';
import {METADATA_FILE} from './metadata.js';
import {compareVersions, isValidVersion, VersionConstraint} from './version.js';

/**
 * The box store, laid out exactly as Vagrant 2.3 lays out `~/.vagrant.d/boxes`:
 * `<name with / as -VAGRANTSLASH->/<version>/<provider>/` holding the box's files, plus an
 * optional `<name>/metadata_url` naming the catalog it came from. (Vagrant 2.3.4 has no
 * architecture level; 2.4 added one.) Entries starting with "." are ours (temporary folders)
 * and are skipped, as Vagrant skips them.
 */
export interface StoredBox {
  name: string;
  version: string;
  provider: string;
  dir: string;
}

export function boxNameDir(name: string): string {
  return path.join(userPaths.boxes(), boxDirName(name));
}

export function storedBoxDir(name: string, version: string, provider: string): string {
  return path.join(boxNameDir(name), version, provider);
}

async function subdirs(dir: string): Promise<string[]> {
  const entries = await readdir(dir, {withFileTypes: true}).catch(() => []);
  return entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name);
}

async function exists(file: string): Promise<boolean> {
  return lstat(file).then(() => true, () => false);
}

/** Every installed box, sorted by name, provider, then version (oldest first). */
export async function listStoredBoxes(filter: {name?: string} = {}): Promise<StoredBox[]> {
  const root = userPaths.boxes();
  const boxes: StoredBox[] = [];
  const nameDirs = filter.name ? [boxDirName(filter.name)] : await subdirs(root);
  for (const nameDir of nameDirs) {
    for (const version of await subdirs(path.join(root, nameDir))) {
      if (!isValidVersion(version)) continue;
      for (const provider of await subdirs(path.join(root, nameDir, version))) {
        const dir = path.join(root, nameDir, version, provider);
        if (await exists(path.join(dir, METADATA_FILE))) boxes.push({name: boxNameFromDir(nameDir), version, provider, dir});
      }
    }
  }
  return boxes.sort((a, b) => a.name.localeCompare(b.name) || a.provider.localeCompare(b.provider) || compareVersions(a.version, b.version));
}

/** The newest installed version of `name` for `provider` matching `constraint`. */
export async function findStoredBox(name: string, options: {constraint?: string; provider?: string}): Promise<StoredBox | undefined> {
  const constraint = new VersionConstraint(options.constraint);
  const candidates = (await listStoredBoxes({name})).filter((b) => !options.provider || b.provider === options.provider);
  const version = constraint.newest(candidates.map((b) => b.version));
  return version === undefined ? undefined : candidates.find((b) => b.version === version);
}

/** Bytes the folder takes on disk (allocated blocks, like `du`). */
export async function diskUsage(target: string): Promise<number> {
  const s = await lstat(target).catch(() => undefined);
  if (!s) return 0;
  if (!s.isDirectory()) return s.blocks * 512;
  let total = s.blocks * 512;
  for (const entry of await readdir(target)) total += await diskUsage(path.join(target, entry));
  return total;
}

/** Removes one installed box and then the version and name folders if they became empty. */
export async function deleteStoredBox(box: StoredBox): Promise<void> {
  await rm(box.dir, {recursive: true, force: true});
  await removeEmptyParents(path.dirname(box.dir));
}

/** Removes `dir` and its parent if empty, stopping at the store root (metadata_url alone does not keep a name). */
export async function removeEmptyParents(dir: string): Promise<void> {
  const root = userPaths.boxes();
  let current = dir;
  while (current.startsWith(root + path.sep) && current !== root) {
    const entries = await readdir(current).catch(() => undefined);
    if (entries === undefined) {
      current = path.dirname(current);
      continue;
    }
    const onlyMetadataUrl = entries.length === 1 && entries[0] === 'metadata_url' && path.dirname(current) === root;
    if (entries.length > 0 && !onlyMetadataUrl) return;
    if (onlyMetadataUrl) await rm(path.join(current, 'metadata_url'), {force: true});
    await rmdir(current).catch(() => undefined);
    current = path.dirname(current);
  }
}
