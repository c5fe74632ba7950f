import {XMLParser, XMLValidator} from 'fast-xml-parser';
import {mkdtemp, rm, writeFile} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {parseDocument} from 'yaml';
import {execa} from 'execa';
import type {RenderedFile} from './render.js';

export type AnswerKind = 'preseed' | 'kickstart' | 'cloud-config' | 'yaml' | 'autoyast' | 'autounattend' | 'xml' | 'other';

export interface AnswerCheck {
  file: string;
  kind: AnswerKind;
  ok: boolean;
  problems: string[];
  /** How it was checked, for --dry-run output ("debconf-set-selections --checkonly", ...). */
  checker: string;
}

/** Guesses an answer file's kind from its name, the way installers name them. */
export function answerKind(name: string): AnswerKind {
  const base = path.basename(name).toLowerCase();
  if (base === 'user-data') return 'cloud-config';
  if (base === 'meta-data' || base === 'vendor-data' || base.endsWith('.yaml') || base.endsWith('.yml')) return 'yaml';
  if (base.includes('preseed')) return 'preseed';
  if (base.startsWith('ks') || base.includes('kickstart') || base.endsWith('.ks')) return 'kickstart';
  if (base === 'autounattend.xml' || base === 'unattend.xml') return 'autounattend';
  if (base.startsWith('autoinst') || base.includes('autoyast')) return 'autoyast';
  if (base.endsWith('.xml')) return 'xml';
  return 'other';
}

/** Syntax-checks rendered answer files without booting anything. */
export async function validateAnswerFiles(files: readonly RenderedFile[]): Promise<AnswerCheck[]> {
  const checks: AnswerCheck[] = [];
  for (const file of files) checks.push(await validateAnswer(file.name, file.content));
  return checks;
}

export async function validateAnswer(name: string, content: string, kind: AnswerKind = answerKind(name)): Promise<AnswerCheck> {
  switch (kind) {
    case 'preseed':
      return {file: name, kind, checker: 'debconf-set-selections --checkonly', ...(await checkPreseed(content))};
    case 'kickstart':
      return {file: name, kind, checker: 'kickstart structure rules', ...result(checkKickstart(content))};
    case 'cloud-config':
      return {file: name, kind, checker: 'YAML parse + #cloud-config header', ...result(checkCloudConfig(content))};
    case 'yaml':
      return {file: name, kind, checker: 'YAML parse', ...result(checkYaml(content))};
    case 'autoyast':
      return {file: name, kind, checker: 'XML well-formed, root <profile>', ...result(checkXml(content, 'profile'))};
    case 'autounattend':
      return {file: name, kind, checker: 'XML well-formed, root <unattend>', ...result(checkXml(content, 'unattend'))};
    case 'xml':
      return {file: name, kind, checker: 'XML well-formed', ...result(checkXml(content))};
    default:
      return {file: name, kind, checker: 'none', ok: true, problems: []};
  }
}

function result(problems: string[]): {ok: boolean; problems: string[]} {
  return {ok: problems.length === 0, problems};
}

/**
 * debconf's own parser (package debconf). It prints "warning: Unknown type" for a bad type
 * but still exits 0; the installer would skip that line, so we count it as a problem.
 */
async function checkPreseed(content: string): Promise<{ok: boolean; problems: string[]}> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'box-preseed-'));
  try {
    const file = path.join(dir, 'preseed.cfg');
    await writeFile(file, content);
    // A private, empty debconf database: the system one is locked while apt runs (and by other
    // checks running in parallel), and debconf then exits 1 without a word.
    const rc = path.join(dir, 'debconf.conf');
    await writeFile(rc, [
      'Config: configdb', 'Templates: templatedb', '',
      'Name: configdb', 'Driver: File', `Filename: ${path.join(dir, 'config.dat')}`, '',
      'Name: templatedb', 'Driver: File', `Filename: ${path.join(dir, 'templates.dat')}`, '',
    ].join('\n'));
    const r = await execa('debconf-set-selections', ['--checkonly', file], {reject: false, env: {LANG: 'C', LC_ALL: 'C', DEBCONF_SYSTEMRC: rc}});
    if ((r as {code?: string}).code === 'ENOENT') return {ok: false, problems: ['debconf-set-selections is not installed (apt-get install debconf)']};
    const problems = String(r.stderr).split('\n').map((l) => l.trim()).filter(Boolean);
    if (r.exitCode !== 0 && problems.length === 0) problems.push(`debconf-set-selections exited with ${r.exitCode}`);
    return result(problems);
  } finally {
    await rm(dir, {recursive: true, force: true});
  }
}

// Kickstart commands of RHEL/Rocky/CentOS Stream 9 (Anaconda); deprecated ones are left out on purpose.
const KICKSTART_COMMANDS = new Set([
  'auth', 'authselect', 'autopart', 'bootloader', 'btrfs', 'cdrom', 'clearpart', 'cmdline', 'eula', 'fcoe', 'firewall',
  'firstboot', 'graphical', 'group', 'halt', 'harddrive', 'ignoredisk', 'iscsi', 'iscsiname', 'keyboard', 'lang',
  'liveimg', 'logging', 'logvol', 'mediacheck', 'module', 'mount', 'network', 'nfs', 'ostreesetup', 'ostreecontainer',
  'part', 'partition', 'poweroff', 'raid', 'realm', 'reboot', 'repo', 'reqpart', 'rescue', 'rhsm', 'rootpw', 'selinux',
  'services', 'shutdown', 'skipx', 'snapshot', 'sshkey', 'sshpw', 'syspurpose', 'text', 'timesource', 'timezone', 'url',
  'user', 'vnc', 'volgroup', 'xconfig', 'zerombr', 'zfcp', 'zipl', '%include', '%ksappend',
]);
const KICKSTART_SECTIONS = new Set(['%packages', '%pre', '%pre-install', '%post', '%onerror', '%traceback', '%addon', '%anaconda']);

/**
 * Kickstart structure rules (no maintained kickstart parser runs on Node or ships in Debian 12):
 * known commands only outside sections, every section closed by %end, no nesting, and the
 * commands an unattended install cannot do without.
 */
export function checkKickstart(content: string): string[] {
  const problems: string[] = [];
  let open: {name: string; line: number} | undefined;
  const seen = new Set<string>();
  content.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    const n = index + 1;
    if (line === '' || line.startsWith('#')) return;
    const word = line.split(/\s+/)[0];
    if (word === '%end') {
      if (!open) problems.push(`line ${n}: %end without an open section`);
      open = undefined;
      return;
    }
    if (word.startsWith('%') && word !== '%include' && word !== '%ksappend') {
      if (!KICKSTART_SECTIONS.has(word)) problems.push(`line ${n}: unknown section "${word}"`);
      if (open) problems.push(`line ${n}: section ${word} starts before ${open.name} (line ${open.line}) is closed with %end`);
      open = {name: word, line: n};
      return;
    }
    if (open) return; // section bodies are scripts or package lists
    if (!KICKSTART_COMMANDS.has(word)) problems.push(`line ${n}: unknown kickstart command "${word}"`);
    seen.add(word);
  });
  if (open) problems.push(`section ${open.name} (line ${open.line}) is not closed with %end`);
  for (const required of ['lang', 'keyboard', 'timezone', 'rootpw']) {
    if (!seen.has(required)) problems.push(`missing required command "${required}"`);
  }
  if (!['autopart', 'part', 'partition', 'reqpart'].some((c) => seen.has(c))) problems.push('no partitioning command (autopart or part)');
  return problems;
}

function checkYaml(content: string): string[] {
  const doc = parseDocument(content);
  return doc.errors.map((e) => e.message.split('\n')[0]);
}

function checkCloudConfig(content: string): string[] {
  const problems: string[] = [];
  if (!content.startsWith('#cloud-config')) problems.push('must start with "#cloud-config" on its first line');
  problems.push(...checkYaml(content));
  if (problems.length === 0) {
    const value = parseDocument(content).toJS() as unknown;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) problems.push('top level must be a mapping');
  }
  return problems;
}

function checkXml(content: string, root?: string): string[] {
  const valid = XMLValidator.validate(content);
  if (valid !== true) return [`line ${valid.err.line}, column ${valid.err.col}: ${valid.err.msg}`];
  if (!root) return [];
  const parsed = new XMLParser({ignoreAttributes: true, ignoreDeclaration: true, ignorePiTags: true}).parse(content) as Record<string, unknown>;
  const roots = Object.keys(parsed).filter((k) => !k.startsWith('?') && k !== '#comment');
  return roots.includes(root) ? [] : [`root element is <${roots[0] ?? ''}>, expected <${root}>`];
}
