import {readFile} from 'node:fs/promises';
import path from 'node:path';
import {renderString, type RenderContext} from '../builder/render.js';
import {loadTemplate, type VariableValues} from '../builder/template.js';
import {resolveTemplate} from '../builder/template-families.js';
import {validateAnswer, type AnswerKind} from '../builder/validate-answers.js';
import {checkBootCommand, renderBootCommand} from '../builder/methods/iso/keys.js';

export interface TemplateDetails {
  name: string;
  /** The family name typed instead of a template name (`centos`), when it was one. */
  family?: string;
  dir: string;
  origin: string;
  description: string;
  os?: string;
  version: string;
  method: string;
  source: {iso?: {urls: string[]; checksum: string}; kernel?: string; initrd?: string; box?: string; debootstrap?: string};
  variables: Array<{name: string; value: string; default?: string; description?: string; sensitive: boolean}>;
  bootWait: string | number;
  /** Rendered with the variables (sensitive ones masked); the HTTP port shows as HTTP_PORT. */
  bootCommand: string[];
  answerMedia: 'http' | 'cdrom';
  answerFiles: Array<{name: string; template: string; kind: AnswerKind; checker: string; ok: boolean; problems: string[]; content?: string}>;
  postInstall: string[];
  ssh: {username: string; timeout: string | number};
  hardware: {cpus: number; memory: string | number; disk: string | number; diskInterface: string; netDevice: string};
  shutdownCommand: string;
}

const MASK = '********';

/**
 * One template in detail, with its answer files rendered (sensitive variables masked, the HTTP
 * port shown as HTTP_PORT) and syntax-checked: validation without booting anything.
 */
export async function showTemplate(nameOrPath: string, options: {templateDirs?: string[]; vars?: VariableValues; render?: boolean} = {}): Promise<TemplateDetails> {
  const ref = await resolveTemplate(nameOrPath, options.templateDirs);
  const t = await loadTemplate(ref.dir, options.vars ?? {});
  const d = t.definition;
  checkBootCommand(t);
  const masked = {...t.variables, ...Object.fromEntries(t.sensitive.map((k) => [k, MASK]))};
  const answerFiles: TemplateDetails['answerFiles'] = [];
  for (const entry of d.answer_files) {
    const text = await readFile(path.resolve(t.dir, entry.template), 'utf8');
    const render = (vars: Record<string, string>): string => {
      const context: RenderContext = {...vars, httpIp: '10.0.2.2', httpPort: 'HTTP_PORT'};
      return entry.template.endsWith('.hbs') ? renderString(text, context, entry.template) : text;
    };
    const name = entry.name ?? path.basename(entry.template).replace(/\.hbs$/, '');
    // Checked with the real values (a masked password could hide a quoting problem), shown masked.
    const check = await validateAnswer(name, render(t.variables));
    answerFiles.push({name, template: entry.template, kind: check.kind, checker: check.checker, ok: check.ok, problems: check.problems, ...(options.render ? {content: render(masked)} : {})});
  }
  const declared = d.variables;
  return {
    name: t.name,
    ...(ref.family ? {family: ref.family.family} : {}),
    dir: t.dir,
    origin: ref.origin,
    description: d.description,
    os: d.os,
    version: d.version,
    method: d.method,
    source: {
      ...(d.iso ? {iso: d.iso} : {}),
      ...(d.kernel ? {kernel: d.kernel.url} : {}),
      ...(d.initrd ? {initrd: d.initrd.url} : {}),
      ...(d.source ? {box: d.source.box} : {}),
      ...(d.debootstrap ? {debootstrap: `${d.debootstrap.suite} from ${d.debootstrap.mirror}`} : {}),
    },
    variables: Object.entries(declared).map(([name, spec]) => ({
      name,
      value: spec.sensitive ? MASK : t.variables[name],
      ...(spec.default === undefined ? {} : {default: spec.sensitive ? MASK : String(spec.default)}),
      ...(spec.description ? {description: spec.description} : {}),
      sensitive: spec.sensitive,
    })),
    bootWait: d.boot_wait,
    bootCommand: renderBootCommand({...t, variables: masked}, {httpIp: '10.0.2.2', httpPort: 'HTTP_PORT'}),
    answerMedia: d.answer_media,
    answerFiles,
    postInstall: d.post_install.map((p) => p.script ?? `inline (${p.inline!.length} lines)`),
    ssh: {username: d.ssh.username, timeout: d.ssh.timeout},
    hardware: {cpus: d.cpus, memory: d.memory, disk: d.disk, diskInterface: d.disk_interface, netDevice: d.net_device},
    shutdownCommand: d.shutdown_command,
  };
}
