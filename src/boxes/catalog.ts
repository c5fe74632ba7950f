import {pathToFileURL} from 'node:url';
import {z} from 'zod';
import {BoxError, UsageError} from '../core/errors.js';
import {readJson, writeJsonAtomic} from '../core/fs-json.js';
import type {Location} from './download.js';
import {quoted} from '../core/printable.js';
import {boxNameProblem, providerProblem, storedVersionProblem} from './names.js';
import {compareVersions, VersionConstraint} from './version.js';
import {parseChecksumType, type ExpectedChecksum} from './verify.js';

/**
 * A Vagrant box catalog ("metadata URL"): one box name, its versions, and per version one
 * download per provider. Unknown fields are kept (Vagrant Cloud adds many). Name, versions and
 * provider names become folders of the store, so they pass the same rules as the command line
 * (names.ts): a catalog naming its box ".." must not write outside the store.
 */
const checked = (problem: (value: string) => string | undefined) => (value: string, ctx: z.RefinementCtx): void => {
  const why = problem(value);
  if (why) ctx.addIssue({code: z.ZodIssueCode.custom, message: `${quoted(value)} ${why}`});
};

const providerSchema = z.object({
  name: z.string().superRefine(checked(providerProblem)),
  url: z.string().min(1),
  checksum_type: z.string().optional(),
  checksum: z.string().optional(),
}).passthrough();

const versionSchema = z.object({
  version: z.string().superRefine(checked(storedVersionProblem)),
  providers: z.array(providerSchema).default([]),
}).passthrough();

export const catalogSchema = z.object({
  name: z.string().superRefine(checked(boxNameProblem)),
  description: z.string().optional(),
  versions: z.array(versionSchema).default([]),
}).passthrough();

export type Catalog = z.output<typeof catalogSchema>;

export function parseCatalog(text: string, where: string): Catalog {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new BoxError('ERR_CATALOG', `Catalog ${where} is not valid JSON: ${(error as Error).message}.`, {hint: 'Check the catalog file or URL.'});
  }
  const result = catalogSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new BoxError('ERR_CATALOG', `Catalog ${where} is invalid: ${issue.path.join('.') || '(root)'} ${issue.message}.`, {
      hint: 'A catalog needs "name" and "versions": [{"version": "1.0.0", "providers": [{"name": "libvirt", "url": "...", "checksum_type": "sha256", "checksum": "..."}]}].',
    });
  }
  return result.data;
}

/** True when `text` looks like a catalog (a JSON object), not a box archive. */
export function looksLikeCatalog(head: Buffer): boolean {
  const text = head.toString('utf8').trimStart();
  return text.startsWith('{');
}

export interface CatalogChoice {
  name: string;
  version: string;
  provider: string;
  /** Absolute URL (file:// or http(s)://) of the box, relative urls resolved against the catalog. */
  url: string;
  checksum?: ExpectedChecksum;
}

/**
 * Picks the newest version matching `constraint` that offers `provider` (Vagrant's rule). With
 * no provider, a version offering exactly one provider is taken; several need --provider.
 */
export function chooseFromCatalog(catalog: Catalog, location: Location, options: {constraint?: string; provider?: string}): CatalogChoice {
  const constraint = new VersionConstraint(options.constraint);
  const where = location.display;
  const candidates = catalog.versions.filter((v) => !options.provider || v.providers.some((p) => p.name === options.provider));
  const version = constraint.newest(candidates.map((v) => v.version));
  if (!version) {
    const all = catalog.versions.map((v) => `${v.version} (${v.providers.map((p) => p.name).join(', ') || 'no providers'})`).join('; ') || 'none';
    if (options.provider && candidates.length === 0) {
      throw new BoxError('ERR_CATALOG_NO_MATCH', `Catalog ${where} of "${catalog.name}" has no version for provider "${options.provider}" (versions: ${all}).`, {
        hint: 'Pick another --provider, or ask the publisher for a box for this provider.',
      });
    }
    throw new BoxError('ERR_CATALOG_NO_MATCH', `No version of "${catalog.name}" in ${where} matches "${constraint.text}"${options.provider ? ` for provider ${options.provider}` : ''} (versions: ${all}).`, {
      hint: 'Loosen --box-version (comma means AND, e.g. ">= 1.0, < 2").',
    });
  }
  const entry = catalog.versions.filter((v) => compareVersions(v.version, version) === 0).at(-1)!;
  let provider = options.provider ? entry.providers.find((p) => p.name === options.provider) : undefined;
  if (!options.provider) {
    if (entry.providers.length === 1) provider = entry.providers[0];
    else {
      throw new UsageError('ERR_CATALOG_PROVIDER', `Version ${version} of "${catalog.name}" is offered for ${entry.providers.length ? entry.providers.map((p) => p.name).join(', ') : 'no provider'}: choose one.`, {
        hint: `Add --provider ${entry.providers[0]?.name ?? 'libvirt'}.`,
      });
    }
  }
  const base = location.kind === 'file' ? pathToFileURL(location.path).toString() : location.url;
  let url: string;
  try {
    url = new URL(provider!.url, base).toString();
  } catch {
    throw new BoxError('ERR_CATALOG', `Catalog ${where}: url "${provider!.url}" of ${version}/${provider!.name} is not a valid URL.`, {hint: 'Fix the url in the catalog.'});
  }
  let checksum: ExpectedChecksum | undefined;
  if (provider!.checksum && provider!.checksum.trim() !== '') {
    checksum = {type: parseChecksumType(provider!.checksum_type ?? 'sha256', `catalog ${where} (version ${version}, provider ${provider!.name})`), value: provider!.checksum};
  }
  return {name: catalog.name, version: entry.version, provider: provider!.name, url, checksum};
}

export interface CatalogEntry {
  name: string;
  version: string;
  provider: string;
  url: string;
  sha256: string;
  description?: string;
}

/**
 * Creates or updates a catalog JSON: adds (or replaces) `provider` of `version`, keeps every
 * other version and provider, and sorts versions oldest first as Vagrant Cloud does.
 */
export async function writeCatalog(entry: CatalogEntry, catalogPath: string): Promise<Catalog> {
  const existingRaw = await readJson<unknown>(catalogPath, undefined);
  const catalog: Catalog = existingRaw === undefined
    ? {name: entry.name, versions: []}
    : parseCatalog(JSON.stringify(existingRaw), catalogPath);
  if (catalog.name !== entry.name) {
    throw new BoxError('ERR_CATALOG', `Catalog ${catalogPath} is for "${catalog.name}", not "${entry.name}".`, {hint: 'Use one catalog file per box name.'});
  }
  if (entry.description) catalog.description = entry.description;
  let version = catalog.versions.find((v) => compareVersions(v.version, entry.version) === 0);
  if (!version) {
    version = {version: entry.version, providers: []};
    catalog.versions.push(version);
  }
  const provider = {name: entry.provider, url: entry.url, checksum_type: 'sha256', checksum: entry.sha256};
  version.providers = [...version.providers.filter((p) => p.name !== entry.provider), provider].sort((a, b) => a.name.localeCompare(b.name));
  catalog.versions.sort((a, b) => compareVersions(a.version, b.version));
  await writeJsonAtomic(catalogPath, catalog);
  return catalog;
}
