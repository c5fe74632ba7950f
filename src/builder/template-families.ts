import {readFile} from 'node:fs/promises';
import path from 'node:path';
import {parse} from 'yaml';
import {compareVersions, isValidVersion} from '../boxes/version.js';
import {errorMessage, UsageError} from '../core/errors.js';
import {loadTemplate, TEMPLATE_FILE} from './template.js';
import {findTemplate, listTemplates, type TemplateRef} from './templates-dir.js';

/** What `box template list` shows of a template, and what family aliases are made from. */
export interface TemplateSummary {
  name: string;
  description: string;
  /** The OS family (`os:` in template.yaml): debian, ubuntu, centos, rocky, opensuse, windows... */
  os?: string;
  version: string;
  method: string;
  /** 'builtin' or the --template-dir it came from. */
  origin: string;
  dir: string;
  /** Set when template.yaml does not load (the others are still listed). */
  error?: string;
}

/** Every template visible to `box build`: --template-dir ones first, then the built-ins. */
export async function summarizeTemplates(templateDirs: readonly string[] = []): Promise<TemplateSummary[]> {
  const out: TemplateSummary[] = [];
  for (const ref of listTemplates(templateDirs)) {
    try {
      // Loads with defaults only: a template whose variables have no default still lists.
      const t = await loadTemplate(ref.dir).catch(async (error: {code?: string}) => {
        if (error.code !== 'ERR_TEMPLATE_VAR') throw error;
        return undefined;
      });
      if (!t) {
        const raw = parse(await readFile(path.join(ref.dir, TEMPLATE_FILE), 'utf8')) as Record<string, string>;
        out.push({name: raw.name ?? ref.name, description: raw.description ?? '', os: raw.os, version: String(raw.version ?? '0.0.0'), method: raw.method, origin: ref.origin, dir: ref.dir});
        continue;
      }
      const d = t.definition;
      out.push({name: t.name, description: d.description, os: d.os, version: d.version, method: d.method, origin: ref.origin, dir: ref.dir});
    } catch (error) {
      out.push({name: ref.name, description: '', version: '', method: '', origin: ref.origin, dir: ref.dir, error: errorMessage(error)});
    }
  }
  return out;
}

/** A family name and the template it stands for. */
export interface TemplateFamily {
  family: string;
  /** The newest template of the family (highest `version`; on a tie, the first by name). */
  template: string;
  /** Every template of the family, newest first. */
  members: string[];
}

/**
 * Family aliases from the templates' own `os:` field (no table to keep up to date): `centos`
 * stands for the newest template whose os is centos, and so on for any family a template
 * declares. A family name that is also a template's name is left to that template.
 */
export function templateFamilies(templates: readonly TemplateSummary[]): Map<string, TemplateFamily> {
  const byFamily = new Map<string, TemplateSummary[]>();
  for (const t of templates) {
    if (t.error || !t.os) continue;
    const family = t.os.toLowerCase();
    byFamily.set(family, [...byFamily.get(family) ?? [], t]);
  }
  const names = new Set(templates.map((t) => t.name));
  const families = new Map<string, TemplateFamily>();
  for (const [family, members] of [...byFamily].sort(([a], [b]) => a.localeCompare(b))) {
    if (names.has(family)) continue;
    const newestFirst = [...members].sort((a, b) => newer(b.version, a.version) || a.name.localeCompare(b.name));
    families.set(family, {family, template: newestFirst[0].name, members: newestFirst.map((t) => t.name)});
  }
  return families;
}

/** Positive when version a is newer than b (versions that do not parse count as oldest). */
function newer(a: string, b: string): number {
  const validA = isValidVersion(a);
  const validB = isValidVersion(b);
  if (validA && validB) return compareVersions(a, b);
  return Number(validA) - Number(validB);
}

export interface ResolvedTemplate extends TemplateRef {
  /** Set when the name typed was a family alias (`centos`), not a template name. */
  family?: TemplateFamily;
}

/**
 * A template by name or path, as findTemplate, or by family (`box build centos` builds the
 * newest centos template). Unknown names list the families too.
 */
export async function resolveTemplate(nameOrPath: string, templateDirs: readonly string[] = []): Promise<ResolvedTemplate> {
  try {
    return findTemplate(nameOrPath, templateDirs);
  } catch (error) {
    if (!(error instanceof UsageError) || error.code !== 'ERR_TEMPLATE_NOT_FOUND' || nameOrPath.includes('/')) throw error;
    const families = templateFamilies(await summarizeTemplates(templateDirs));
    const family = families.get(nameOrPath.toLowerCase());
    if (family) return {...findTemplate(family.template, templateDirs), family};
    if (families.size === 0) throw error;
    throw new UsageError(error.code, error.message, {hint: `${error.hint ?? ''} Families (the newest template of each): ${[...families.values()].map((f) => `${f.family} → ${f.template}`).join(', ')}.`.trim()});
  }
}

/** "centos: building centos-stream-9, the newest template of the centos family (...)". */
export function familyChoice(typed: string, resolved: ResolvedTemplate): string | undefined {
  const family = resolved.family;
  if (!family) return undefined;
  const others = family.members.filter((m) => m !== family.template);
  return `"${typed}" is the ${family.family} family: using its newest template, ${family.template}${others.length ? ` (others: ${others.join(', ')}; name one to use it)` : ''}.`;
}
