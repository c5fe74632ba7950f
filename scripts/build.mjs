#!/usr/bin/env node
// Builds dist/ from src/ as esbuild-bundled ES modules with code splitting (issue 15: one
// command is a few files to load, not a hundred). Type-checking is tsc's (`npm run lint`,
// and `npm run build` runs it first); this only bundles.
//
// Entry points keep their path under src/, so oclif (`oclif.commands: ./dist/commands`,
// `helpClass`, `hooks` in package.json) and the manifest find them where tsc put them. Code
// that two entries share goes into dist/chunks/, and an entry that others import (the
// registries, state.js) re-exports its chunk: a plug-in or test preload importing
// dist/providers/registry.js registers into the same instance the commands use.
//
// Bundled vs external (docs/architecture.md, "Start-up: what loads when"):
// - bundled: what every command loads (@oclif/core, yaml, chalk, proper-lockfile,
//   write-file-atomic, p-limit, fastest-levenshtein and their own dependencies), so Node resolves
//   and reads a few files instead of hundreds;
// - external although every command loads it: zod. It is part of the plug-in interface: a target
//   or provisioner registered from outside hands box zod schemas (its settings), and zod checks
//   them with instanceof, so plug-ins and box must share node_modules' one copy (10 files);
// - external (resolved from node_modules when used): the packages loaded lazily by the commands
//   that need them: the AWS SDK (@aws-sdk/*, @smithy/*: hundreds of modules, only aws commands),
//   ssh2 (optional native binding, cpu-features, loaded by lazyRequire), tar-stream and handlebars
//   (lazyRequire: a runtime require esbuild cannot follow anyway), got, execa, cli-progress,
//   fast-xml-parser, zod-to-json-schema (each a dynamic import() at its point of use), semver
//   (only @oclif/core's own engines check, which bin/run.js switches off) and the TypeScript
//   tool-chain @oclif/core requires only for a plug-in run from source. Keeping them out of
//   the bundle keeps them lazy and keeps their own file lookups (native .node files, package.json
//   reads) where their authors put them.
import {readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {build} from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));

const bundled = ['@oclif/core', 'yaml', 'chalk', 'proper-lockfile', 'write-file-atomic', 'p-limit', 'fastest-levenshtein'];
const unknown = bundled.filter((name) => !(name in pkg.dependencies));
if (unknown.length > 0) throw new Error(`scripts/build.mjs bundles ${unknown.join(', ')}, which package.json does not depend on`);
// Every other dependency stays external (a new one too, until it is listed above), and so do
// the lazily loaded packages that bundled ones require (semver: oclif's engines check).
// typescript, ts-node, tsx and source-map-support: @oclif/core's support for running a plug-in
// from TypeScript source (bin/dev.js), required only in that mode; bundled, typescript alone
// would be 10 MB that every command reads.
const external = [...Object.keys(pkg.dependencies).filter((name) => !bundled.includes(name)), '@smithy/*', '@aws-sdk/*', 'semver', 'typescript', 'ts-node', 'tsx', 'source-map-support'];

/** src/-relative paths of every .ts file under `dir`. */
function tsFiles(dir) {
  return readdirSync(path.join(root, 'src', dir), {recursive: true, withFileTypes: true})
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => path.relative(path.join(root, 'src'), path.join(entry.parentPath ?? entry.path, entry.name)));
}

// Entries: what oclif loads by path (commands, help, hooks), what box loads by path at run time
// (worker entries: core/worker-call.ts workerEntry), bin/run.js's oclif and compile cache, and
// the modules plug-ins, test preloads and scripts/write-schema.mjs import from dist/.
const entries = [
  ...tsFiles('commands'),
  ...tsFiles('hooks'),
  'help.ts',
  'run.ts',
  'compile-cache.ts',
  'boxfile/load-worker.ts',
  'providers/registry.ts',
  'provisioners/registry.ts',
  'core/state.ts',
  'providers/aws/communicator-factory.ts',
  'boxfile/json-schema.ts',
];

rmSync(path.join(root, 'dist'), {recursive: true, force: true});
const result = await build({
  absWorkingDir: root,
  entryPoints: entries.map((file) => ({in: path.join('src', file), out: file.replace(/\.ts$/, '')})),
  outdir: 'dist',
  outbase: 'src',
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20.5',
  external,
  // Source maps for users' stack traces (`node --enable-source-maps`), not switched on by
  // default: reading them costs start-up time.
  sourcemap: 'linked',
  // Bundled CommonJS packages `require` Node built-ins, and some name their own file:
  // write-file-atomic seeds its temp names with __filename; @oclif/core falls back to __dirname
  // where its caller gives no path (bin/run.js always does). In an ES module neither exists, so
  // each output file defines them as its own path.
  banner: {js: [
    "import {createRequire as __boxCreateRequire} from 'node:module';",
    "import {fileURLToPath as __boxFileURLToPath} from 'node:url';",
    'const require = __boxCreateRequire(import.meta.url);',
    'const __filename = __boxFileURLToPath(import.meta.url);',
    "const __dirname = __boxFileURLToPath(new URL('.', import.meta.url));",
  ].join(' ')},
  // Which source files went into which output file: test/core/startup-modules.test.ts maps the
  // files a command loads back to the packages in them.
  metafile: true,
  logLevel: 'warning',
  legalComments: 'none',
});
writeFileSync(path.join(root, 'dist', 'meta.json'), JSON.stringify(result.metafile));
