import {existsSync, readdirSync, statSync} from 'node:fs';
import path from 'node:path';
import {didYouMean} from '../boxfile/issues.js';
import {UsageError} from '../core/errors.js';
import {packageRoot} from '../core/package-root.js';
import {TEMPLATE_FILE} from './template.js';

/** The templates shipped with box: `<package>/templates`. */
export const builtinTemplatesDir = path.join(packageRoot(), 'templates');

export interface TemplateRef {
  name: string;
  dir: string;
  /** 'builtin' or the --template-dir it came from. */
  origin: string;
}

function templatesIn(root: string, origin: string): TemplateRef[] {
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((entry) => !entry.startsWith('_') && !entry.startsWith('.'))
    .filter((entry) => existsSync(path.join(root, entry, TEMPLATE_FILE)))
    .sort()
    .map((entry) => ({name: entry, dir: path.join(root, entry), origin}));
}

/**
 * Every template visible to a build: user template dirs first (a user template shadows a
 * built-in one of the same name, as in Vagrant's plugin lookup), then the built-in ones.
 * A --template-dir may itself be one template (it holds a template.yaml) or a folder of them.
 */
export function listTemplates(templateDirs: readonly string[] = []): TemplateRef[] {
  const seen = new Set<string>();
  const out: TemplateRef[] = [];
  const roots: Array<[string, string]> = [...templateDirs.map((d) => [path.resolve(d), path.resolve(d)] as [string, string]), [builtinTemplatesDir, 'builtin']];
  for (const [root, origin] of roots) {
    if (origin !== 'builtin' && !existsSync(root)) {
      throw new UsageError('ERR_TEMPLATE_DIR', `--template-dir "${root}" does not exist.`);
    }
    const refs = existsSync(path.join(root, TEMPLATE_FILE)) ? [{name: path.basename(root), dir: root, origin}] : templatesIn(root, origin);
    for (const ref of refs) {
      if (seen.has(ref.name)) continue;
      seen.add(ref.name);
      out.push(ref);
    }
  }
  return out;
}

/**
 * Finds a template by name (searching --template-dir then built-ins) or by path (anything
 * with a slash, or an existing folder holding a template.yaml).
 */
export function findTemplate(nameOrPath: string, templateDirs: readonly string[] = []): TemplateRef {
  const asPath = path.resolve(nameOrPath);
  if ((nameOrPath.includes('/') || nameOrPath.startsWith('.')) && existsSync(asPath) && statSync(asPath).isDirectory()) {
    if (!existsSync(path.join(asPath, TEMPLATE_FILE))) {
      throw new UsageError('ERR_TEMPLATE_NOT_FOUND', `Folder "${nameOrPath}" has no ${TEMPLATE_FILE}.`, {hint: 'A template is a folder with a template.yaml.'});
    }
    return {name: path.basename(asPath), dir: asPath, origin: path.dirname(asPath)};
  }
  const all = listTemplates(templateDirs);
  const found = all.find((t) => t.name === nameOrPath);
  if (found) return found;
  const names = all.map((t) => t.name);
  // Only a close name: `fedora` suggesting `rocky-9` would mislead.
  const suggestion = didYouMean(nameOrPath, names);
  throw new UsageError('ERR_TEMPLATE_NOT_FOUND', `No template named "${nameOrPath}".`, {
    hint: `${suggestion ? `Did you mean "${suggestion}"? ` : ''}Known templates: ${names.join(', ') || '(none)'}. Use --template-dir for your own.`,
  });
}

/**
 * Resolves a script or file path named in a template: relative to the template folder first;
 * `_scripts/x.sh` also falls back to the folder above it and then the built-in shared scripts,
 * so a user template can reuse box's scripts.
 */
export function resolveTemplateFile(templateDir: string, relative: string): string {
  const candidates = [path.resolve(templateDir, relative)];
  if (relative.startsWith('_scripts/')) {
    candidates.push(path.resolve(templateDir, '..', relative), path.join(builtinTemplatesDir, relative));
  }
  const found = candidates.find((c) => existsSync(c));
  if (!found) {
    throw new UsageError('ERR_TEMPLATE_FILE', `File "${relative}" named by template ${templateDir} does not exist.`, {
      hint: `Looked in: ${candidates.join(', ')}.`,
    });
  }
  return found;
}
