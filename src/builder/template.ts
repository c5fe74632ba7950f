import {existsSync} from 'node:fs';
import {readFile} from 'node:fs/promises';
import path from 'node:path';
import {isMap, isScalar, LineCounter, parseDocument} from 'yaml';
import {z} from 'zod';
import {absolutizeProvisioner, expandHome, provisionerHostFileFields} from '../boxfile/resolve.js';
import {provisionerSchema, type ProvisionerCommon} from '../boxfile/schema.js';
import {BoxError, UsageError} from '../core/errors.js';
import '../provisioners/registry.js'; // registers every provisioner type, so `provisioners:` knows them all
import {renderHandlebars} from './render.js';

/**
 * `template.yaml`: what `box build` bakes. One schema for every build method so that a template
 * reads the same whether it starts from Debian packages (`debootstrap`), an installer ISO or
 * netboot kernel (`iso`), or an existing box (`box`). Field names follow Packer/veewee where they
 * have one (boot_wait, boot_command, shutdown_command). Objects are strict: a typo is an error.
 */

/** "5s", "2m", "1h", "250ms" or a number of seconds. */
const durationSchema = z.union([
  z.number().nonnegative(),
  z.string().regex(/^\s*\d+(\.\d+)?\s*(ms|s|m|h)?\s*$/, 'expected a duration such as "10s", "5m" or "250ms"'),
]);

/** "10G", "512M" or a number of GiB. */
const diskSchema = z.union([
  z.number().positive(),
  z.string().regex(/^\s*\d+(\.\d+)?\s*([MGT]i?B?)?\s*$/i, 'expected a size such as 10, "10G" or "512M"'),
]);

/** "2G", "512M" or a number of MiB. */
const memorySchema = z.union([
  z.number().int().positive(),
  z.string().regex(/^\s*\d+(\.\d+)?\s*([MG]i?B?)?\s*$/i, 'expected a size such as 1024, "1G" or "512M"'),
]);

const checksumSchema = z.string().regex(/^(none|(md5|sha1|sha256|sha512):[0-9a-fA-F]+|file:.+)$/,
  'expected "sha256:<hex>" (or sha512:/sha1:/md5:, "file:<url of a SUMS file>", or "none")');

const remoteFileSchema = z.object({
  url: z.string().min(1),
  checksum: checksumSchema.default('none'),
}).strict();

const variableSchema = z.object({
  default: z.union([z.string(), z.number(), z.boolean()]).optional(),
  description: z.string().optional(),
  /** Hidden from --dry-run output and logs (passwords). */
  sensitive: z.boolean().default(false),
}).strict();

const postInstallSchema = z.union([
  z.string().min(1).transform((script) => ({script, inline: undefined, env: {} as Record<string, string>, privileged: true})),
  z.object({
    script: z.string().min(1).optional(),
    inline: z.array(z.string()).optional(),
    env: z.record(z.string()).default({}),
    privileged: z.boolean().default(true),
  }).strict().refine((p) => Boolean(p.script) !== Boolean(p.inline), 'give exactly one of script or inline'),
]);

const answerFileSchema = z.union([
  z.string().min(1).transform((template) => ({template, name: undefined as string | undefined})),
  z.object({template: z.string().min(1), name: z.string().optional()}).strict(),
]);

const httpFileSchema = z.union([
  z.string().min(1).transform((p) => ({path: p, name: undefined as string | undefined})),
  z.object({path: z.string().min(1), name: z.string().optional()}).strict(),
]);

const sourceSchema = z.union([
  z.string().regex(/^box\s+\S+$/, 'expected "box NAME" or {box: NAME, version?, provider?}')
    .transform((s) => ({box: s.split(/\s+/)[1], version: undefined as string | undefined, provider: undefined as string | undefined})),
  z.object({box: z.string().min(1), version: z.string().optional(), provider: z.string().optional()}).strict(),
  // A store name as in a Boxfile's basebox: "NAME" or "NAME@CONSTRAINT" (e.g. debian-12-minimal@>= 12).
  z.string().regex(/^[A-Za-z0-9][^\s@]*(@.+)?$/, 'expected a box name such as "debian-12-minimal" or "debian-12-minimal@>= 12"')
    .transform((s) => {
      const at = s.indexOf('@');
      return {box: at < 0 ? s : s.slice(0, at), version: at < 0 ? undefined : s.slice(at + 1).trim() || undefined, provider: undefined as string | undefined};
    }),
]);

export const templateSchema = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9._-]*$/, 'expected lower-case letters, digits, ".", "_" or "-"').optional(),
  description: z.string().default(''),
  os: z.string().optional().describe('Family, for answer files and scripts: debian, ubuntu, centos, rocky, opensuse, windows. `box build FAMILY` builds the newest template of a family.'),
  /** Version written into the box metadata and catalog. */
  version: z.string().default('0.0.0'),
  method: z.enum(['debootstrap', 'iso', 'box']),
  variables: z.record(variableSchema).default({}),

  // --- method: debootstrap ---
  debootstrap: z.object({
    suite: z.string().min(1),
    mirror: z.string().min(1).default('http://deb.debian.org/debian'),
    variant: z.string().default('minbase'),
    components: z.array(z.string()).default(['main']),
    packages: z.array(z.string()).default([]),
    exclude: z.array(z.string()).default([]),
    hostname: z.string().default('box'),
    /** Kernel modules the slim initramfs carries (initramfs-tools MODULES=list). */
    initramfs_modules: z.array(z.string()).default([]),
    /**
     * `box up` boots the box's kernel directly with no initrd, root on an NVMe disk (Debian's
     * cloud kernel has NVMe and ext4 built in; virtio-blk is a module): ~9 s less under TCG.
     * The build checks the kernel's config. The disk's own GRUB still boots with the initrd.
     */
    boot_without_initrd: z.boolean().default(false),
    /**
     * The initrd `box up` boots the kernel with: initramfs-tools' (what GRUB boots too), or
     * `minimal`, box's own (busybox-static, the initramfs_modules and an /init that mounts root):
     * ~3 s less per boot under TCG, on any disk bus the modules cover.
     */
    direct_boot_initrd: z.enum(['initramfs-tools', 'minimal']).default('initramfs-tools'),
    /** Files copied into the root file system: {"etc/motd": "motd"} (paths relative to the template). */
    files: z.record(z.string()).default({}),
  }).strict().optional(),

  // --- method: iso ---
  iso: z.object({urls: z.array(z.string().min(1)).min(1), checksum: checksumSchema}).strict().optional(),
  kernel: remoteFileSchema.optional(),
  initrd: remoteFileSchema.optional(),
  boot_wait: durationSchema.default('10s'),
  /** Rendered with handlebars (variables, httpIp, httpPort) at boot time, then typed. */
  boot_command: z.array(z.string()).default([]),
  boot_key_interval: durationSchema.default('20ms'),
  answer_files: z.array(answerFileSchema).default([]),
  /** Where the installer finds the answer files: the build HTTP server, or a second CD (Windows, cloud-init `cidata`). */
  answer_media: z.enum(['http', 'cdrom']).default('http'),
  /** Volume label of the answer CD (`cidata` for cloud-init NoCloud). */
  answer_cd_label: z.string().default('BOXANSWERS'),
  /** Answer file whose fetch proves the installer is going (default: the first answer file). */
  answer_wait_for: z.string().optional(),
  answer_fetch_timeout: durationSchema.default('10m'),
  /** Build VM devices: installers without virtio drivers (Windows) need sata/ide + e1000. */
  disk_interface: z.enum(['virtio', 'sata', 'ide']).default('virtio'),
  net_device: z.enum(['virtio-net-pci', 'e1000']).default('virtio-net-pci'),
  http_files: z.array(httpFileSchema).default([]),

  // --- method: box ---
  source: sourceSchema.optional(),

  // --- the guest while it is built (iso, box) ---
  ssh: z.object({
    username: z.string().default('vagrant'),
    password: z.string().optional(),
    /** Path to a private key, or "vagrant-insecure" for Vagrant's well-known key. */
    private_key: z.string().optional(),
    port: z.number().int().min(1).max(65535).default(22),
    timeout: durationSchema.default('30m'),
  }).strict().default({}),
  cpus: z.number().int().min(1).max(64).default(2),
  memory: memorySchema.default(1024),
  disk: diskSchema.default(10),
  /** Kernel command line, for direct kernel boot and for the bootloader config. */
  kernel_cmdline: z.string().optional(),
  post_install: z.array(postInstallSchema).default([]),
  /**
   * A Boxfile's provisioners (same schema, same runners: shell, file, ansible, ansible_local,
   * puppet, chef_solo, chef_zero), run over SSH in the build VM after post_install. Lazy: the
   * Boxfile's provisioner schema is rebuilt as provisioner types register.
   */
  provisioners: z.array(z.lazy(() => provisionerSchema)).default([]),
  shutdown_command: z.string().default('sudo -S shutdown -P now'),
  shutdown_timeout: durationSchema.default('5m'),
}).strict().superRefine((t, ctx) => {
  const need = (field: string, message: string): void => ctx.addIssue({code: z.ZodIssueCode.custom, path: [field], message});
  if (t.method === 'debootstrap' && !t.debootstrap) need('debootstrap', 'method debootstrap needs a debootstrap: {suite, mirror, packages} section');
  if (t.method === 'iso' && !t.iso && !(t.kernel && t.initrd)) need('iso', 'method iso needs iso: {urls, checksum} or both kernel and initrd');
  if (t.method === 'box' && !t.source) need('source', 'method box needs source: NAME[@constraint] (a box in the store)');
  if (t.debootstrap?.boot_without_initrd && t.debootstrap.direct_boot_initrd === 'minimal') {
    ctx.addIssue({code: z.ZodIssueCode.custom, path: ['debootstrap', 'direct_boot_initrd'], message: 'has no meaning with boot_without_initrd: true (box up then boots no initrd); keep one of the two'});
  }
  if (t.method === 'debootstrap' && t.provisioners.length > 0) {
    need('provisioners', 'not supported yet with method debootstrap: it builds the root file system in a chroot on the host, with no running guest for provisioners to reach over SSH; build the base with debootstrap, then a method: box template with it as source runs provisioners (see docs/build.md)');
  }
  (t.provisioners as ProvisionerCommon[]).forEach((p, i) => {
    if (p.run !== undefined) {
      ctx.addIssue({code: z.ZodIssueCode.custom, path: ['provisioners', i, 'run'], message: 'has no meaning in a build: a template\'s provisioners all run once, while the box is built (run: once/always/never choose when a Boxfile\'s provisioners run at box up and box provision); remove it'});
    }
  });
});

export type TemplateInput = z.input<typeof templateSchema>;
export type TemplateDefinition = z.output<typeof templateSchema>;
export type PostInstall = TemplateDefinition['post_install'][number];
export type VariableValues = Record<string, string>;

export interface LoadedTemplate {
  /** Template name (its folder name unless `name:` says otherwise). */
  name: string;
  dir: string;
  file: string;
  definition: TemplateDefinition;
  /** Resolved variables: defaults overridden by --var. */
  variables: VariableValues;
  /** Names of variables marked sensitive (masked in plans and logs). */
  sensitive: string[];
}

export const TEMPLATE_FILE = 'template.yaml';

/**
 * Reads, validates and resolves `<dir>/template.yaml`: every validation error is reported at
 * once with its line, then variables are resolved (defaults < --var) and string fields are
 * rendered with handlebars, except boot_command which needs the HTTP server's address and is
 * rendered at boot time.
 */
export async function loadTemplate(dir: string, overrides: VariableValues = {}): Promise<LoadedTemplate> {
  const file = path.join(dir, TEMPLATE_FILE);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new UsageError('ERR_TEMPLATE_NOT_FOUND', `Cannot read template file ${file}: ${(error as Error).message}`, {
      hint: 'A template is a folder with a template.yaml; see `docs/build.md`.',
    });
  }
  const raw = parseTemplateYaml(text, file);
  // Variables first (they are plain data), then render every string with them, then validate
  // the rendered template, so `disk: "{{disk}}"` is checked as the number it becomes.
  const rawObject = (raw.value && typeof raw.value === 'object' ? raw.value : {}) as Record<string, unknown>;
  const declared = z.record(variableSchema).default({}).safeParse(rawObject.variables);
  if (!declared.success) validateTemplate(raw.value, file, raw.lineOf); // reports the variables errors with lines
  const variableSpecs = declared.success ? declared.data : {};
  const variables = resolveVariables(variableSpecs, overrides, file);
  const rendered = renderFields(rawObject, variables, file);
  const definition = resolveProvisionerPaths(validateTemplate(rendered, file, raw.lineOf), dir, file, raw.lineOf);
  return {
    name: definition.name ?? path.basename(dir),
    dir,
    file,
    definition,
    variables,
    sensitive: Object.entries(variableSpecs).filter(([, v]) => v.sensitive).map(([k]) => k),
  };
}

function parseTemplateYaml(text: string, file: string): {value: unknown; lineOf: (p: Array<string | number>) => number | undefined} {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {lineCounter, prettyErrors: true});
  if (doc.errors.length > 0) {
    const lines = doc.errors.map((e) => {
      const pos = e.linePos?.[0];
      return `${file}${pos ? `:${pos.line}:${pos.col}` : ''}: ${e.message.split('\n')[0]}`;
    });
    throw new UsageError('ERR_TEMPLATE_INVALID', `Template is not valid YAML:\n${lines.join('\n')}`);
  }
  const lineOf = (p: Array<string | number>): number | undefined => {
    for (let n = p.length; n >= 0; n--) {
      // A key's own line (`provisioners:`), not the line where its block value starts.
      const parent = n > 0 ? doc.getIn(p.slice(0, n - 1), true) : undefined;
      const pair = isMap(parent) ? parent.items.find((item) => isScalar(item.key) && item.key.value === p[n - 1]) : undefined;
      const keyRange = pair && isScalar(pair.key) ? pair.key.range : undefined;
      if (keyRange) return lineCounter.linePos(keyRange[0]).line;
      const node = doc.getIn(p.slice(0, n), true) as {range?: [number, number]} | undefined;
      if (node && typeof node === 'object' && node.range) return lineCounter.linePos(node.range[0]).line;
    }
    return undefined;
  };
  return {value: doc.toJS() ?? {}, lineOf};
}

/** Validates a parsed template object; errors name the file, the line and the field. */
export function validateTemplate(value: unknown, file = TEMPLATE_FILE, lineOf: (p: Array<string | number>) => number | undefined = () => undefined): TemplateDefinition {
  const parsed = templateSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((issue) => {
    const where = issue.path.join('.');
    const line = lineOf(issue.path);
    const message = issue.code === z.ZodIssueCode.unrecognized_keys ? `unknown field ${issue.keys.map((k) => `"${k}"`).join(', ')}` : issue.message;
    return `${file}${line ? `:${line}` : ''}: ${where || '(top level)'}: ${message}`;
  });
  throw new UsageError('ERR_TEMPLATE_INVALID', `Template ${file} is invalid:\n${lines.join('\n')}`, {
    hint: 'Fix the fields above; `docs/build.md` lists every template field.',
    details: {issues: parsed.error.issues.map((i) => ({path: i.path.join('.'), message: i.message}))},
  });
}

/**
 * Makes the host paths of `provisioners:` absolute against the template's folder (as a
 * Boxfile's are against its folder), and refuses one that does not exist, with its line.
 */
function resolveProvisionerPaths(definition: TemplateDefinition, dir: string, file: string, lineOf: (p: Array<string | number>) => number | undefined): TemplateDefinition {
  const abs = (value: string): string => path.resolve(dir, expandHome(value));
  const provisioners = (definition.provisioners as ProvisionerCommon[]).map((p) => absolutizeProvisioner(p, abs));
  const missing = provisioners.flatMap((p, i) => provisionerHostFileFields(p.type).flatMap((field) => {
    const value = (p as Record<string, unknown>)[field];
    if (typeof value !== 'string' || value === '' || existsSync(value)) return [];
    const line = lineOf(['provisioners', i, field]);
    return [`${file}${line ? `:${line}` : ''}: provisioners.${i}.${field}: no such file ${value}`];
  }));
  if (missing.length > 0) {
    throw new UsageError('ERR_TEMPLATE_INVALID', `Template ${file} is invalid:\n${missing.join('\n')}`, {
      hint: 'Paths of provisioners are relative to the template\'s folder.',
    });
  }
  return {...definition, provisioners: provisioners as TemplateDefinition['provisioners']};
}

/** Defaults from `variables:` overridden by `--var k=v`; an unknown --var is an error (typos). */
export function resolveVariables(declared: TemplateDefinition['variables'], overrides: VariableValues, file = TEMPLATE_FILE): VariableValues {
  const unknown = Object.keys(overrides).filter((k) => !(k in declared));
  if (unknown.length > 0) {
    const known = Object.keys(declared);
    throw new UsageError('ERR_TEMPLATE_VAR', `Unknown variable ${unknown.map((k) => `"${k}"`).join(', ')} for template ${file}.`, {
      hint: known.length > 0 ? `Declared variables: ${known.join(', ')}.` : 'This template declares no variables.',
    });
  }
  const values: VariableValues = {};
  const missing: string[] = [];
  for (const [name, spec] of Object.entries(declared)) {
    if (name in overrides) values[name] = overrides[name];
    else if (spec.default !== undefined) values[name] = String(spec.default);
    else missing.push(name);
  }
  if (missing.length > 0) {
    throw new UsageError('ERR_TEMPLATE_VAR', `Template ${file} needs a value for ${missing.map((k) => `"${k}"`).join(', ')}.`, {
      hint: `Pass ${missing.map((k) => `--var ${k}=VALUE`).join(' ')}.`,
    });
  }
  return values;
}

/** Parses `--var k=v` flags. */
export function parseVarFlags(flags: readonly string[] = []): VariableValues {
  const out: VariableValues = {};
  for (const flag of flags) {
    const eq = flag.indexOf('=');
    if (eq <= 0) throw new UsageError('ERR_USAGE', `--var "${flag}" is not KEY=VALUE.`, {hint: 'Example: --var mirror=http://deb.debian.org/debian'});
    out[flag.slice(0, eq)] = flag.slice(eq + 1);
  }
  return out;
}

const DEFERRED_FIELDS = new Set(['boot_command', 'variables']);

function renderFields(definition: Record<string, unknown>, variables: VariableValues, file: string): Record<string, unknown> {
  const render = (value: unknown, where: string): unknown => {
    if (typeof value === 'string') return value.includes('{{') ? renderString(value, variables, `${file}: ${where}`) : value;
    if (Array.isArray(value)) return value.map((v, i) => render(v, `${where}.${i}`));
    if (value && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, render(v, where ? `${where}.${k}` : k)]));
    }
    return value;
  };
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(definition)) out[key] = DEFERRED_FIELDS.has(key) ? value : render(value, key);
  // A rendered number-like string stays a string; the schema accepts both for sizes.
  return out;
}

/** Renders one string with handlebars in strict mode: an undeclared variable is an error. */
export function renderString(text: string, context: Record<string, unknown>, where: string): string {
  try {
    return renderHandlebars(text, context);
  } catch (error) {
    throw new UsageError('ERR_TEMPLATE_RENDER', `${where}: cannot render "${text}": ${(error as Error).message.split('\n')[0]}`, {
      hint: 'Declare the variable under `variables:` or fix its name.',
    });
  }
}

/** Duration field → milliseconds. */
export function durationMs(value: string | number): number {
  if (typeof value === 'number') return value * 1000;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(value);
  if (!m) throw new BoxError('ERR_TEMPLATE_INVALID', `"${value}" is not a duration.`);
  const factor = {ms: 1, s: 1000, m: 60_000, h: 3_600_000}[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(m[1]) * factor);
}

// Template sizes follow the Boxfile's rules (boxfile/sizes.ts): a bare number is GiB for the
// disk and MiB for memory, units are binary, results are rounded up.
export {diskGiB, memoryMiB} from '../boxfile/sizes.js';
