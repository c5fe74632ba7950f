import {readFile} from 'node:fs/promises';
import path from 'node:path';
import {UsageError} from '../core/errors.js';
import {lazyRequire} from '../core/lazy-require.js';

/** What answer files and boot commands can refer to: template variables plus the build's HTTP address. */
export type RenderContext = Record<string, unknown> & {httpIp: string; httpPort: number | string};

export interface RenderedFile {
  /** Path the HTTP server serves it at (the file name without `.hbs`). */
  name: string;
  source: string;
  content: string;
}

// A private instance so helpers registered here never leak into other handlebars users.
// Made on first render: only builds render templates.
const handlebars = lazyRequire<typeof import('handlebars')>('handlebars');
let instance: ReturnType<typeof import('handlebars')['create']> | undefined;
function hbs(): ReturnType<typeof import('handlebars')['create']> {
  if (instance) return instance;
  instance = handlebars().create();
  instance.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  instance.registerHelper('default', (value: unknown, fallback: unknown) => (value === undefined || value === null || value === '' ? fallback : value));
  instance.registerHelper('join', (list: unknown, sep: unknown) => (Array.isArray(list) ? list.join(typeof sep === 'string' ? sep : ',') : String(list ?? '')));
  return instance;
}

/**
 * The one Handlebars render of box's templates (fields of template.yaml, answer files, boot
 * commands), with the helpers above; strict and without HTML escaping. Throws Handlebars' error.
 */
export function renderHandlebars(text: string, context: Record<string, unknown>): string {
  return hbs().compile(text, {strict: true, noEscape: true})(context);
}

/**
 * Renders a template string. Strict: a variable the template does not define is an error
 * naming it (a typo must not silently become an empty password). No HTML escaping: these are
 * config files, not web pages.
 */
export function renderString(text: string, context: RenderContext, where: string): string {
  try {
    return renderHandlebars(text, context);
  } catch (error) {
    const message = (error as Error).message.replace(/\s+/g, ' ').trim();
    const missing = /"(\w+)" not defined/.exec(message)?.[1];
    throw new UsageError('ERR_TEMPLATE_RENDER', `Cannot render ${where}: ${missing ? `variable "${missing}" is not defined` : message}.`, {
      hint: missing ? `Declare "${missing}" under variables: in template.yaml or pass --var ${missing}=VALUE.` : 'Check the handlebars syntax ({{name}}, {{#if x}}...{{/if}}).',
    });
  }
}

/**
 * Renders answer files from a template folder. `*.hbs` files go through handlebars and lose
 * the suffix; other files are served as they are.
 */
export async function renderAnswerFiles(templateDir: string, files: readonly string[], context: RenderContext): Promise<RenderedFile[]> {
  const rendered: RenderedFile[] = [];
  for (const file of files) {
    const source = path.resolve(templateDir, file);
    let text: string;
    try {
      text = await readFile(source, 'utf8');
    } catch {
      throw new UsageError('ERR_TEMPLATE_FILE', `Answer file "${file}" listed in ${path.join(templateDir, 'template.yaml')} does not exist.`, {hint: `Create ${source} or fix the answer file list.`});
    }
    const name = path.basename(file).replace(/\.hbs$/, '');
    rendered.push({name, source, content: file.endsWith('.hbs') ? renderString(text, context, file) : text});
  }
  return rendered;
}
