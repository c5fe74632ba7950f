import {readFile} from 'node:fs/promises';
import path from 'node:path';
import {parse} from 'yaml';
import {errorMessage} from '../core/errors.js';
import {loadTemplate} from '../builder/template.js';
import {listTemplates} from '../builder/templates-dir.js';

export interface ListedTemplate {
  name: string;
  description: string;
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
export async function listTemplateSummaries(templateDirs: readonly string[] = []): Promise<ListedTemplate[]> {
  const out: ListedTemplate[] = [];
  for (const ref of listTemplates(templateDirs)) {
    try {
      // Loads with defaults only: a template whose variables have no default still lists.
      const t = await loadTemplate(ref.dir).catch(async (error: {code?: string}) => {
        if (error.code !== 'ERR_TEMPLATE_VAR') throw error;
        return undefined;
      });
      if (!t) {
        const raw = parse(await readFile(path.join(ref.dir, 'template.yaml'), 'utf8')) as Record<string, string>;
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
