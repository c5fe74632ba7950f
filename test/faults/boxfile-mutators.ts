/**
 * Boxfile mutations for the fuzzer: seeded (every choice comes from `Random`), so a seed and an
 * iteration number reproduce an input exactly. Mutations work on the text (bytes, lines,
 * indentation, YAML syntax) and on the parsed document (wrong types, deep nesting, huge counts,
 * aliases, odd unicode), starting from the valid example Boxfiles.
 */
import YAML from 'yaml';

/** mulberry32: small, fast and good enough to pick mutations. */
export class Random {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(max: number): number {
    return Math.floor(this.next() * max);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  chance(p: number): boolean {
    return this.next() < p;
  }
}

const ODD_STRINGS = [
  '', ' ', '\t', '\u0000', '\u0007bell', '\u001b[31mred\u001b[0m', '\u202egnp.exe', 'zero\u200bwidth', '\ufeffbom', 'e\u0301', '😀🚀', '\ud83d', 'ﬁ', 'İ',
  '../../etc/passwd', '/etc/shadow', '~/x', 'C:\\Windows', 'a'.repeat(300), '%s%n', '{{7*7}}', '${HOME}', '$(reboot)', '`id`', "'; DROP", '\\', '"', '\n', '\r\n',
  'NaN', 'null', 'true', '0x1F', '1e400', '-0', '.inf', '12:30', '2024-01-01', 'yes', 'no', '~', '=', '<<', '&a', '*a', '!!binary', '#', ': ', '- ',
];
const ODD_NUMBERS = [0, -1, -0, 1e400, -1e400, Number.MAX_SAFE_INTEGER, 2 ** 64, 0.5, 1e-300, 65535, 65536, 70000, 4096 * 1024, NaN, 3.14159];
const KNOWN_KEYS = [
  'name', 'basebox', 'target', 'targets', 'machines', 'environments', 'provisioners', 'forwarded_ports', 'synced_folders', 'ssh', 'hostname', 'qemu', 'aws', 'virtualbox',
  'cpus', 'memory', 'disk', 'accel', 'region', 'ami', 'ami_filter', 'instance_type', 'ssh_cidr', 'type', 'inline', 'path', 'source', 'destination', 'guest', 'host',
  'host_ip', 'protocol', 'username', 'port', 'timeout', 'insert_key', 'private_key_path', 'env', 'args', 'privileged', 'spot', 'tags', 'block_device_mappings', '<<',
];

function oddScalar(r: Random): unknown {
  switch (r.int(7)) {
    case 0: return r.pick(ODD_STRINGS);
    case 1: return r.pick(ODD_NUMBERS);
    case 2: return r.chance(0.5);
    case 3: return null;
    case 4: return r.pick(ODD_STRINGS).repeat(1 + r.int(50));
    case 5: return String.fromCharCode(...Array.from({length: 1 + r.int(20)}, () => r.int(0x10000)));
    default: return r.int(2 ** 31) - 2 ** 30;
  }
}

function oddValue(r: Random, depth = 0): unknown {
  if (depth > 3 || r.chance(0.5)) return oddScalar(r);
  if (r.chance(0.5)) return Array.from({length: r.int(4)}, () => oddValue(r, depth + 1));
  return Object.fromEntries(Array.from({length: r.int(4)}, () => [r.chance(0.7) ? r.pick(KNOWN_KEYS) : String(oddScalar(r)), oddValue(r, depth + 1)]));
}

/** Every [parent, key] of a plain data tree, for picking a place to change. */
function places(node: unknown, out: Array<[Record<string, unknown> | unknown[], string | number]> = [], depth = 0): Array<[Record<string, unknown> | unknown[], string | number]> {
  if (depth > 12 || node === null || typeof node !== 'object') return out;
  for (const key of Array.isArray(node) ? node.keys() : Object.keys(node)) {
    out.push([node as Record<string, unknown>, key as string | number]);
    places((node as Record<string | number, unknown>)[key as never], out, depth + 1);
  }
  return out;
}

function nest(r: Random, levels: number, leaf: unknown): unknown {
  let value = leaf;
  const asList = r.chance(0.5);
  for (let i = 0; i < levels; i++) value = asList ? [value] : {[r.pick(KNOWN_KEYS)]: value};
  return value;
}

type DataMutation = (data: Record<string, unknown>, r: Random) => void;

const DATA_MUTATIONS: Record<string, DataMutation> = {
  'wrong type': (data, r) => {
    const spots = places(data);
    if (spots.length === 0) return;
    const [parent, key] = r.pick(spots);
    (parent as Record<string | number, unknown>)[key] = oddValue(r);
  },
  'unknown key': (data, r) => {
    const spots = places(data).filter(([p]) => !Array.isArray(p));
    const target = spots.length && r.chance(0.7) ? (r.pick(spots)[0] as Record<string, unknown>) : data;
    target[r.chance(0.5) ? `${r.pick(KNOWN_KEYS)}${r.pick(['', 's', '_', 'X'])}` : String(oddScalar(r))] = oddValue(r);
  },
  'drop a key': (data, r) => {
    const spots = places(data).filter(([p]) => !Array.isArray(p));
    if (spots.length === 0) return;
    const [parent, key] = r.pick(spots);
    delete (parent as Record<string, unknown>)[key as string];
  },
  'deep nesting': (data, r) => {
    data[r.pick(KNOWN_KEYS)] = nest(r, 50 + r.int(3000), oddScalar(r));
  },
  'huge count of machines': (data, r) => {
    const n = 100 + r.int(900);
    data.machines = Object.fromEntries(Array.from({length: n}, (_, i) => [`m${i}`, r.chance(0.9) ? {} : oddValue(r)]));
  },
  'huge list': (data, r) => {
    data[r.pick(['provisioners', 'forwarded_ports', 'synced_folders'])] = Array.from({length: 100 + r.int(700)}, (_, i) => (r.chance(0.95) ? {type: 'shell', inline: `echo ${i}`, guest: 1000 + (i % 60000), host: 2000 + i} : oddValue(r)));
  },
  'odd unicode': (data, r) => {
    const spots = places(data);
    if (spots.length === 0) return;
    const [parent, key] = r.pick(spots);
    (parent as Record<string | number, unknown>)[key] = r.pick(ODD_STRINGS) + String.fromCodePoint(r.chance(0.3) ? 0x1f300 + r.int(0x300) : 0x80 + r.int(0xd700));
  },
  'long string': (data, r) => {
    data[r.pick(['name', 'basebox', 'hostname', 'target'])] = 'x'.repeat(1000 + r.int(200_000));
  },
  'many environments': (data, r) => {
    data.environments = Object.fromEntries(Array.from({length: 1 + r.int(300)}, (_, i) => [`env${i}`, r.chance(0.8) ? {machines: {[`m${i}`]: {}}} : oddValue(r)]));
  },
};

type TextMutation = (text: string, r: Random) => string;

const TEXT_MUTATIONS: Record<string, TextMutation> = {
  'truncate': (text, r) => text.slice(0, r.int(text.length + 1)),
  'random bytes': (text, r) => {
    const at = r.int(text.length + 1);
    return text.slice(0, at) + String.fromCharCode(...Array.from({length: 1 + r.int(8)}, () => r.int(256))) + text.slice(at);
  },
  'control characters': (text, r) => {
    const at = r.int(text.length + 1);
    return text.slice(0, at) + r.pick(['\u0000', '\u0001', '\u0008', '\u000b', '\u000c', '\u001b', '\u007f', '\u0085', '\u2028', '\ufffe']) + text.slice(at);
  },
  'duplicate a line': (text, r) => {
    const lines = text.split('\n');
    const i = r.int(lines.length);
    lines.splice(i, 0, lines[i]);
    return lines.join('\n');
  },
  'break indentation': (text, r) => {
    const lines = text.split('\n');
    const i = r.int(lines.length);
    lines[i] = (r.chance(0.5) ? '\t' : ' '.repeat(r.int(9))) + lines[i].trimStart();
    return lines.join('\n');
  },
  'alias bomb': (text, r) => {
    const width = 2 + r.int(9);
    const levels = 3 + r.int(8);
    const lines = ['x-a0: &a0 [lol]'];
    for (let i = 1; i <= levels; i++) lines.push(`x-a${i}: &a${i} [${Array.from({length: width}, () => `*a${i - 1}`).join(', ')}]`);
    lines.push(`name: *a${levels}`);
    return `${lines.join('\n')}\n${text}`;
  },
  'merge key': (text, r) => `x-base: &base\n  ${r.pick(KNOWN_KEYS)}: ${JSON.stringify(oddScalar(r) ?? null)}\nmachines:\n  m1:\n    <<: ${r.pick(['*base', '[*base, *base]', '"not a mapping"', '*nope', '[1, 2]'])}\n${text.replace(/^machines:/m, 'old-machines:')}`,
  'yaml oddities': (text, r) => `${r.pick(['%YAML 1.1\n---\n', '--- !!map\n', '---\n---\n', '...\n', '? complex\n: key\n', '!!binary aGVsbG8=\n', 'name: !!js/function "() => 1"\n', '[unclosed\n', '{a: 1, a: 2}\n', '"\\ud800"\n', '&x a: *x\n'])}${text}`,
  'deep flow nesting': (_text, r) => {
    const n = 100 + r.int(20_000);
    return `name: x\nbasebox: b\nprovisioners: ${'['.repeat(n)}${']'.repeat(r.chance(0.8) ? n : r.int(n))}\n`;
  },
};

export interface Mutant {
  text: string;
  mutations: string[];
}

/** One mutated Boxfile from a seed Boxfile: 1-3 mutations, on the data or on the text. */
export function mutate(seedText: string, r: Random): Mutant {
  const mutations: string[] = [];
  let text = seedText;
  const rounds = 1 + r.int(3);
  for (let i = 0; i < rounds; i++) {
    if (r.chance(0.55)) {
      let data: unknown;
      try {
        data = YAML.parse(text, {maxAliasCount: 100, uniqueKeys: false});
      } catch {
        data = undefined;
      }
      if (data && typeof data === 'object' && !Array.isArray(data)) {
        const name = r.pick(Object.keys(DATA_MUTATIONS));
        DATA_MUTATIONS[name](data as Record<string, unknown>, r);
        mutations.push(name);
        try {
          text = YAML.stringify(data, {aliasDuplicateObjects: false, lineWidth: 0});
        } catch {
          text = JSON.stringify(data) ?? text; // JSON is YAML too
        }
        continue;
      }
    }
    const name = r.pick(Object.keys(TEXT_MUTATIONS));
    text = TEXT_MUTATIONS[name](text, r);
    mutations.push(name);
  }
  return {text, mutations};
}
