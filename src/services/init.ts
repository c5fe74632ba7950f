import {existsSync, readFileSync} from 'node:fs';
import {writeFile} from 'node:fs/promises';
import path from 'node:path';
import {parseBasebox} from '../boxfile/basebox.js';
import {BOXFILE_NAME} from '../boxfile/find.js';
import {defaultTargetName, registeredBoxfileTargets, targetAliasSummary, targetNames, type TargetInput} from '../boxfile/schema.js';
import {UsageError} from '../core/errors.js';
import {packageRoot as boxPackageRoot} from '../core/package-root.js';
import {orList} from '../core/printable.js';
import '../providers/registry.js';

export interface InitOptions {
  dir: string;
  basebox?: string;
  target?: TargetInput;
  force?: boolean;
}

export interface InitResult {
  boxfile: string;
  basebox: string;
  target: TargetInput;
  /** The `$schema` written for editors: a path relative to the Boxfile where one holds for everyone. */
  schema: string;
}

export const DEFAULT_BASEBOX = 'debian-12-minimal';

const SCHEMA = path.join('schemas', 'boxfile.schema.json');

/**
 * What the yaml-language-server comment of a new Boxfile in `boxfileDir` points at. The
 * Boxfile is committed, so the path must hold in a teammate's checkout at another place:
 * 1. box installed in the project (node_modules/<box package> in the Boxfile's folder or a
 *    parent, where Node finds it): relative to the Boxfile, the same after every `npm install`;
 * 2. a Boxfile inside the box package itself (its checkout): relative, the same in any checkout;
 * 3. otherwise (a global npm install, a checkout elsewhere) no relative path holds elsewhere:
 *    one climbing out of the project breaks at another depth, so the installed package's
 *    absolute path, which is the same for everyone with the same npm global prefix.
 */
export function schemaReference(boxfileDir: string, packageRoot = boxPackageRoot()): string {
  const relative = (file: string): string => {
    const rel = path.relative(boxfileDir, file).split(path.sep).join('/');
    return rel.startsWith('../') ? rel : `./${rel}`;
  };
  const name = (JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as {name: string}).name;
  for (let dir = path.resolve(boxfileDir); ; dir = path.dirname(dir)) {
    const installed = path.join(dir, 'node_modules', name, SCHEMA);
    if (existsSync(installed)) return relative(installed);
    if (path.dirname(dir) === dir) break;
  }
  const own = path.join(packageRoot, SCHEMA);
  const inside = path.relative(packageRoot, path.resolve(boxfileDir));
  if (!inside.startsWith('..') && !path.isAbsolute(inside)) return relative(own);
  return own;
}

/** YAML-quotes a value when it would otherwise not read back as the same string. */
function yamlString(value: string): string {
  return /^[A-Za-z0-9][A-Za-z0-9._/-]*$/.test(value) ? value : JSON.stringify(value);
}

/**
 * A commented starter Boxfile. Every optional section is present but commented out, so the
 * file documents itself and validates as written.
 */
export function renderBoxfile(options: {basebox: string; target: TargetInput; name: string; schema: string}): string {
  return `# yaml-language-server: $schema=${options.schema}
# Boxfile: one file that says which machine to run, where, and how to set it up.
# Check it with \`box validate\`; start it with \`box up\`. Reference: docs/boxfile.md in the box repository.
name: ${yamlString(options.name)}

# The box to start from: a name in the box store (\`box box list\`), optionally with a
# version constraint ("debian-12@>= 1.0, < 2"), a path to a .box file, or an http(s) URL.
basebox: ${yamlString(options.basebox)}
# basebox_url: https://example.com/debian-12.json   # where to fetch it when it is not in the store

# Where the machine runs: ${orList(targetNames())} (\`box up --target\` overrides it);
# ${targetAliasSummary()}.
target: ${options.target}

# Settings per target; only the chosen target's settings are used.
targets:
${starterTargets(options.target)}

# Run in order on the first \`box up\` and on every \`box provision\`.
provisioners:
  - type: shell
    inline: echo "hello from $(hostname)"
  # - type: shell
  #   path: scripts/setup.sh     # relative to this Boxfile
  # - type: file
  #   source: config/app.conf
  #   destination: /tmp/app.conf

# Host ports forwarded to the guest (bound to 127.0.0.1 unless host_ip says otherwise).
# forwarded_ports:
#   - {guest: 80, host: 8080}

# Several machines? Name them; each overrides the settings above.
# machines:
#   web: {forwarded_ports: [{guest: 80, host: 8080}]}
#   db:  {targets: {qemu: {memory: 2G}}}

# Overlays chosen with --env, applied over everything above.
# environments:
#   prod:
#     target: aws
`;
}

/** Each target's starter settings: the default target's written out, the others commented. */
function starterTargets(written: string): string {
  return registeredBoxfileTargets().filter((t) => t.starter).map((t, i) => {
    const lines = [`${t.name}:`, ...t.starter!(written).map((line) => `  ${line}`)];
    return lines.map((line) => (i === 0 ? `  ${line}` : `  # ${line}`)).join('\n');
  }).join('\n');
}

/** Writes a starter Boxfile in `dir`; refuses to replace one unless `force`. */
export async function initBoxfile(options: InitOptions): Promise<InitResult> {
  const basebox = options.basebox ?? DEFAULT_BASEBOX;
  const target = options.target ?? defaultTargetName();
  const parsed = parseBasebox(basebox, options.dir);
  if (!parsed.ok) {
    throw new UsageError('ERR_BAD_BASEBOX', `--basebox ${JSON.stringify(basebox)}: ${parsed.message}.`, {hint: 'Use a box name (debian-12, debian-12@>= 1.0), a path to a .box file, or an http(s) URL.'});
  }
  const file = path.join(options.dir, BOXFILE_NAME);
  if (existsSync(file) && !options.force) {
    throw new UsageError('ERR_BOXFILE_EXISTS', `${file} already exists; box init does not overwrite it.`, {hint: 'Run `box init --force` to replace it, or edit the existing Boxfile.'});
  }
  const name = path.basename(path.resolve(options.dir)).replace(/[^A-Za-z0-9_.-]/g, '-').replace(/^[^A-Za-z0-9]+/, '') || 'box';
  const schema = schemaReference(options.dir);
  await writeFile(file, renderBoxfile({basebox, target, name, schema}));
  return {boxfile: file, basebox, target, schema};
}
