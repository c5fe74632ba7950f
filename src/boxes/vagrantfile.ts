import {readFile, stat} from 'node:fs/promises';
import path from 'node:path';
import type {GuestHardware} from './metadata.js';

/**
 * The settings box takes from the Vagrantfile inside a box, read WITHOUT running Ruby (a box
 * is untrusted input; Vagrant itself would execute it). Boxes made by `vagrant package` carry
 * `config.ssh.private_key_path = File.expand_path("../vagrant_private_key", __FILE__)` and the
 * key; vagrant-libvirt boxes may set the kernel, initrd and command line, hardware, memory and
 * CPUs. This is a small, tolerant reader of literal assignments: strings, integers, symbols,
 * `__FILE__`/`__dir__` with File.expand_path/join/dirname, local variables holding those, and
 * `load` of an included Vagrantfile inside the box. Everything else that looks like a setting
 * is reported in `notUnderstood`, so `box box add` can say what it ignores.
 */
export interface BoxVagrantfile {
  ssh: {
    username?: string;
    /** The guest's SSH port (config.ssh.port, else config.ssh.guest_port: vagrant-libvirt connects to the guest directly). */
    port?: number;
    /** Absolute path of the key, inside the box folder. */
    privateKeyPath?: string;
  };
  libvirt: {
    /** Absolute paths inside the box folder. */
    kernel?: string;
    initrd?: string;
    cmdLine?: string;
    diskBus?: GuestHardware['diskBus'];
    nicModel?: GuestHardware['nicModel'];
    memoryMiB?: number;
    cpus?: number;
  };
  notUnderstood: Array<{file: string; line: number; text: string; why: string}>;
}

export const VAGRANTFILE = 'Vagrantfile';
/** A box's Vagrantfile is a few lines; a larger one is not read (and said so). */
export const MAX_VAGRANTFILE_BYTES = 256 * 1024;

type Value =
  | {kind: 'string'; value: string}
  | {kind: 'path'; value: string}
  | {kind: 'int'; value: number}
  | {kind: 'bool'; value: boolean}
  | {kind: 'nil'}
  | {kind: 'array'; items: Value[]};

/** Settings that say how Vagrant reaches libvirt or name the host: meaningless to box, ignored silently. */
const HOST_SIDE_LIBVIRT = new Set(['driver', 'host', 'connect_via_ssh', 'storage_pool_name', 'storage_pool_path', 'uri', 'socket', 'username', 'password', 'id_ssh_key_file', 'proxy_command', 'system_uri', 'qemu_use_session', 'default_prefix', 'random_hostname']);
/** config.* settings that are harmless to ignore (the MAC VirtualBox exports record, for instance). */
const HARMLESS_CONFIG = new Set(['vm.base_mac', 'vm.base_address']);

type Frame =
  | {kind: 'config'; vars: string[]}
  | {kind: 'provider'; name: string; vars: string[]; overrides: string[]}
  | {kind: 'other'; why: string};

/** Splits `text` at top-level occurrences of `separator` (outside strings, brackets and parentheses). */
function splitTopLevel(text: string, separator: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quote: string | undefined;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
      continue;
    }
    if (c === '"' || c === '\'') quote = c;
    else if ('([{'.includes(c)) depth++;
    else if (')]}'.includes(c)) depth--;
    else if (depth === 0 && text.startsWith(separator, i)) {
      parts.push(text.slice(start, i));
      start = i + separator.length;
      i += separator.length - 1;
    }
  }
  parts.push(text.slice(start));
  return parts.map((p) => p.trim());
}

/** The line without its trailing `# comment` (a # inside a string stays). */
function stripComment(line: string): string {
  let quote: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (quote) {
      if (c === '\\') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === '\'') quote = c;
    else if (c === '#') return line.slice(0, i);
  }
  return line;
}

function parseString(text: string): string | undefined {
  if (text.length < 2) return undefined;
  const q = text[0];
  if ((q !== '"' && q !== '\'') || text.at(-1) !== q) return undefined;
  const body = text.slice(1, -1);
  if (q === '"' && body.includes('#{')) return undefined; // interpolation: runtime value
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (c === q) return undefined; // two strings glued together: not a literal
    if (c !== '\\') {
      out += c;
      continue;
    }
    const next = body[++i];
    if (q === '\'') out += next === '\\' || next === '\'' ? next : `\\${next}`;
    else out += ({n: '\n', t: '\t', s: ' ', '0': '\0'} as Record<string, string>)[next] ?? next;
  }
  return out;
}

/** A path value: an absolute path string or a path expression. */
function asPath(v: Value | undefined): string | undefined {
  if (v?.kind === 'path') return v.value;
  if (v?.kind === 'string' && path.isAbsolute(v.value)) return v.value;
  return undefined;
}

function asText(v: Value | undefined): string | undefined {
  return v?.kind === 'string' || v?.kind === 'path' ? v.value : undefined;
}

/** Evaluates the literal expressions box understands; undefined for anything else. */
function evaluate(expr: string, scope: {file: string; vars: Map<string, Value | undefined>}): Value | undefined {
  const text = expr.trim();
  const s = parseString(text);
  if (s !== undefined) return {kind: 'string', value: s};
  if (/^-?\d[\d_]*$/.test(text)) return {kind: 'int', value: Number(text.replaceAll('_', ''))};
  if (/^:[A-Za-z_]\w*$/.test(text)) return {kind: 'string', value: text.slice(1)};
  if (text === 'true' || text === 'false') return {kind: 'bool', value: text === 'true'};
  if (text === 'nil') return {kind: 'nil'};
  if (text === '__FILE__') return {kind: 'path', value: scope.file};
  if (text === '__dir__') return {kind: 'path', value: path.dirname(scope.file)};
  if (/^[a-z_]\w*$/.test(text)) return scope.vars.get(text);
  if (text.startsWith('[') && text.endsWith(']')) {
    const items = text.slice(1, -1).trim() === '' ? [] : splitTopLevel(text.slice(1, -1), ',').map((i) => evaluate(i, scope));
    return items.every((i) => i !== undefined) ? {kind: 'array', items: items as Value[]} : undefined;
  }
  const call = /^File\.(expand_path|join|dirname)\s*\((.*)\)$/s.exec(text);
  if (!call) return undefined;
  const args = splitTopLevel(call[2], ',').map((a) => evaluate(a, scope));
  if (args.some((a) => a === undefined)) return undefined;
  if (call[1] === 'dirname' && args.length === 1) {
    const p = asPath(args[0]);
    return p === undefined ? undefined : {kind: 'path', value: path.dirname(p)};
  }
  if (call[1] === 'expand_path' && args.length === 2) {
    // Ruby's File.expand_path(rel, base): rel resolved against base, which is used as a folder
    // even when it names a file, hence the common "../x" with __FILE__.
    const base = asPath(args[1]);
    const rel = asText(args[0]);
    return base === undefined || rel === undefined ? undefined : {kind: 'path', value: path.resolve(base, rel)};
  }
  if (call[1] === 'join' && args.length >= 1) {
    const parts = args.map(asText);
    if (parts.some((p) => p === undefined)) return undefined;
    const joined = path.join(...(parts as string[]));
    return args[0]!.kind === 'path' || path.isAbsolute(joined) ? {kind: 'path', value: joined} : {kind: 'string', value: joined};
  }
  return undefined;
}

/**
 * Joins physical lines into statements: a line ending in `,`, `(`, `[`, `{`, `\` or an operator
 * goes on. The body of a heredoc (`inline: <<-SHELL` scripts) is skipped: its `if`/`end` are
 * shell, not Ruby.
 */
function statements(text: string): Array<{line: number; text: string}> {
  const out: Array<{line: number; text: string}> = [];
  let current: {line: number; text: string} | undefined;
  let heredoc: string | undefined;
  text.split(/\r?\n/).forEach((raw, index) => {
    if (heredoc !== undefined) {
      if (raw.trim() === heredoc) heredoc = undefined;
      return;
    }
    heredoc = /<<[~-]?(['"]?)([A-Za-z_]\w*)\1/.exec(raw)?.[2];
    const line = stripComment(raw).trim();
    if (current) current.text += ` ${line}`;
    else if (line !== '') current = {line: index + 1, text: line};
    if (current && !/[,([{\\=+]$/.test(current.text) && !/\b(and|or)$/.test(current.text)) {
      out.push({line: current.line, text: current.text.replace(/\\$/, '')});
      current = undefined;
    }
  });
  if (current) out.push(current);
  return out;
}

const OPENS_BLOCK = /^(if|unless|while|until|case|begin|def|class|module|for)\b/;

/**
 * Parses one Vagrantfile (`file`, inside `boxDir`), applying its settings onto `into`. Included
 * Vagrantfiles (`load X` with X inside the box) are parsed in turn; `depth` bounds nesting.
 */
interface ParseState {
  result: BoxVagrantfile;
  boxDir: string;
  /** The box's provider (Vagrant's name): its block is this box's settings; other providers' blocks do not apply. */
  boxProvider: string;
  /** config.ssh.port was set: it wins over config.ssh.guest_port, as in Vagrant. */
  portSet: boolean;
}

async function parseInto(state: ParseState, file: string, depth: number): Promise<void> {
  const {result: into, boxDir} = state;
  const display = path.relative(boxDir, file) || VAGRANTFILE;
  const size = (await stat(file)).size;
  if (size > MAX_VAGRANTFILE_BYTES) {
    into.notUnderstood.push({file: display, line: 0, text: '', why: `the file is ${size} bytes, more than box reads (${MAX_VAGRANTFILE_BYTES}); none of its settings are used`});
    return;
  }
  const scope = {file, vars: new Map<string, Value | undefined>()};
  const stack: Frame[] = [];
  const note = (line: number, text: string, why: string): void => {
    into.notUnderstood.push({file: display, line, text: text.length > 120 ? `${text.slice(0, 120)}…` : text, why});
  };
  const inside = (p: string): boolean => {
    const rel = path.relative(boxDir, p);
    return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
  };

  for (const {line, text} of statements(await readFile(file, 'utf8'))) {
    const conditional = stack.find((f): f is Extract<Frame, {kind: 'other'}> => f.kind === 'other');
    const configVars = stack.flatMap((f) => (f.kind === 'config' ? f.vars : f.kind === 'provider' ? f.overrides : []));
    const provider = [...stack].reverse().find((f): f is Extract<Frame, {kind: 'provider'}> => f.kind === 'provider');

    if (/^end\b/.test(text)) {
      stack.pop();
      continue;
    }
    const block = /\bdo\s*(?:\|([^|]*)\|)?$/.exec(text);
    if (block) {
      const params = (block[1] ?? '').split(',').map((p) => p.trim()).filter(Boolean);
      if (/^Vagrant(\.configure\s*\(\s*["']?2["']?\s*\)|::Config\.run)\s+do\b/.test(text)) {
        stack.push({kind: 'config', vars: params.slice(0, 1)});
      } else {
        const prov = new RegExp(`^(${configVars.map((v) => v.replace(/\W/g, '')).join('|') || '\\0'})\\.vm\\.provider\\s*\\(?\\s*(?::(\\w+)|"(\\w+)"|'(\\w+)')`).exec(text);
        if (prov && !conditional) {
          stack.push({kind: 'provider', name: prov[2] ?? prov[3] ?? prov[4], vars: params.slice(0, 1), overrides: params.slice(1, 2)});
        } else {
          // Per-machine definitions, loops, hooks: what is set inside is reported line by line.
          stack.push({kind: 'other', why: 'it is inside a block box does not evaluate (a machine definition, loop or hook)'});
        }
      }
      continue;
    }
    if (OPENS_BLOCK.test(text) && !/\bend$/.test(text)) {
      stack.push({kind: 'other', why: 'it is inside a condition or method box does not evaluate'});
      continue;
    }
    const local = /^([a-z_]\w*)\s*=(?!=)\s*(.+)$/.exec(text);
    if (local) {
      scope.vars.set(local[1], conditional ? undefined : evaluate(local[2], scope));
      continue;
    }
    const load = /^load\s*\(?\s*(.+?)\s*\)?(?:\s+if\s+File\.exists?\?\s*\(?\s*(.+?)\s*\)?)?$/.exec(text);
    if (load) {
      const target = asPath(evaluate(load[1], scope));
      if (target && inside(target) && !conditional && depth < 3) {
        if (await stat(target).then((s) => s.isFile(), () => false)) await parseInto(state, target, depth + 1);
        else if (!load[2]) note(line, text, 'the file it loads is not in the box');
      } else {
        note(line, text, target && !inside(target) ? 'it loads a file outside the box' : 'box cannot tell which file it loads');
      }
      continue;
    }
    const setting = /^([a-z_]\w*)\.([\w.]+)\s*=(?!=)\s*(.+)$/.exec(text);
    const call = setting ? undefined : /^([a-z_]\w*)\.([\w.]+)\b(.*)$/.exec(text);
    const receiver = setting?.[1] ?? call?.[1];
    const key = setting?.[2] ?? call?.[2] ?? '';
    const scopeName = receiver === undefined ? undefined
      : configVars.includes(receiver) ? 'config'
        : provider?.vars.includes(receiver) ? provider.name : undefined;
    if (scopeName === undefined) {
      if (receiver !== undefined || /^(require|Vagrant|ENV|system|`)/.test(text)) note(line, text, 'box does not run Ruby code');
      continue;
    }
    if (scopeName !== 'config' && scopeName !== 'libvirt') {
      // Another provider's block: it does not apply to this box. The box's own provider other
      // than libvirt (virtualbox...) is not read yet: say so.
      if (scopeName === state.boxProvider) note(line, text, `box does not read ${scopeName} provider settings yet`);
      continue;
    }
    if (conditional) {
      note(line, text, conditional.why);
      continue;
    }
    if (call) {
      if (scopeName === 'config' && key === 'vm.synced_folder' && /disabled:\s*true|:disabled\s*=>\s*true/.test(call[3])) continue;
      note(line, text, `box does not use ${scopeName}.${key}`);
      continue;
    }
    const value = evaluate(setting![3], scope);
    const why = applySetting(state, scopeName, key, value, inside);
    if (why) note(line, text, why);
  }
}

/** Applies one `scope.key = value` onto `into`; returns why it was not used, or undefined. */
function applySetting(state: ParseState, scope: 'config' | 'libvirt', key: string, value: Value | undefined, inside: (p: string) => boolean): string | undefined {
  const into = state.result;
  const id = `${scope}.${key}`;
  if (scope === 'libvirt' && HOST_SIDE_LIBVIRT.has(key)) return undefined;
  if (scope === 'config' && HARMLESS_CONFIG.has(key)) return undefined;
  const known = new Set(['config.ssh.username', 'config.ssh.port', 'config.ssh.guest_port', 'config.ssh.private_key_path',
    'libvirt.kernel', 'libvirt.initrd', 'libvirt.cmd_line', 'libvirt.disk_bus', 'libvirt.nic_model_type', 'libvirt.memory', 'libvirt.cpus']);
  if (!known.has(id)) return `box does not use ${id}`;
  // Only the qemu target (libvirt boxes) applies a box's Vagrantfile so far.
  if (state.boxProvider !== 'libvirt') return `box uses ${id} of libvirt boxes only, not yet of ${state.boxProvider} boxes`;
  if (value === undefined) return 'not a literal value box can read without running Ruby';
  const text = value.kind === 'string' ? value.value : undefined;
  const int = value.kind === 'int' ? value.value : value.kind === 'string' && /^\d+$/.test(value.value) ? Number(value.value) : undefined;
  const boxPath = (what: string): string | {why: string} => {
    const p = asPath(value);
    if (p === undefined) return {why: `${what} must be a path inside the box, e.g. File.expand_path("../${what}", __FILE__)`};
    if (!inside(p)) return {why: `${what} points outside the box (${p}); box only uses files inside the box`};
    return p;
  };
  switch (id) {
    case 'config.ssh.username':
      if (text === undefined || text === '') return 'expected a user name string';
      into.ssh.username = text;
      return undefined;
    case 'config.ssh.port':
    case 'config.ssh.guest_port':
      if (int === undefined || int < 1 || int > 65535) return 'expected a port number (1-65535)';
      if (id === 'config.ssh.port' || !state.portSet) into.ssh.port = int;
      if (id === 'config.ssh.port') state.portSet = true;
      return undefined;
    case 'config.ssh.private_key_path': {
      const first = value.kind === 'array' ? value.items[0] : value;
      const p = asPath(first);
      if (p === undefined) return 'expected a path inside the box, e.g. File.expand_path("../vagrant_private_key", __FILE__)';
      if (!inside(p)) return `the key ${p} is outside the box; box only uses keys packed in the box`;
      into.ssh.privateKeyPath = p;
      return value.kind === 'array' && value.items.length > 1 ? 'box uses only the first key of the list' : undefined;
    }
    case 'libvirt.kernel':
    case 'libvirt.initrd': {
      const p = boxPath(key);
      if (typeof p !== 'string') return p.why;
      into.libvirt[key as 'kernel' | 'initrd'] = p;
      return undefined;
    }
    case 'libvirt.cmd_line':
      if (text === undefined) return 'expected a string';
      into.libvirt.cmdLine = text;
      return undefined;
    case 'libvirt.disk_bus':
      if (text !== 'virtio' && text !== 'sata' && text !== 'ide') return `box supports the virtio, sata and ide disk buses (got ${text === undefined ? 'a non-literal value' : JSON.stringify(text)})`;
      into.libvirt.diskBus = text;
      return undefined;
    case 'libvirt.nic_model_type':
      if (text !== 'virtio' && text !== 'e1000') return `box supports the virtio and e1000 NIC models (got ${text === undefined ? 'a non-literal value' : JSON.stringify(text)})`;
      into.libvirt.nicModel = text === 'virtio' ? 'virtio-net-pci' : 'e1000';
      return undefined;
    case 'libvirt.memory':
      if (int === undefined || int < 16) return 'expected a whole number of MiB';
      into.libvirt.memoryMiB = int;
      return undefined;
    case 'libvirt.cpus':
      if (int === undefined || int < 1) return 'expected a whole number of CPUs';
      into.libvirt.cpus = int;
      return undefined;
    default:
      return `box does not use ${id}`;
  }
}

/**
 * Reads the Vagrantfile of the box in `boxDir` (a box of `provider`, Vagrant's name), if it has
 * one. Never runs it; see BoxVagrantfile.
 */
export async function readBoxVagrantfile(boxDir: string, provider: string): Promise<BoxVagrantfile | undefined> {
  const file = path.join(boxDir, VAGRANTFILE);
  if (!(await stat(file).then((s) => s.isFile(), () => false))) return undefined;
  const result: BoxVagrantfile = {ssh: {}, libvirt: {}, notUnderstood: []};
  await parseInto({result, boxDir: path.resolve(boxDir), boxProvider: provider, portSet: false}, path.join(path.resolve(boxDir), VAGRANTFILE), 0);
  return result;
}
