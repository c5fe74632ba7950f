/**
 * A setting that box accepts is a setting box honours (issue 13: `synced_folders` was validated
 * and then ignored). Every key of the Boxfile's JSON Schema (machine settings, target settings,
 * provisioner keys, whatever gets added) must be read by code outside src/boxfile/, which only
 * parses, merges and resolves: a static check over src/ with TypeScript's parser.
 *
 * What counts as reading key `k` (or its camelCase, or its name after resolve.ts, see RENAMED):
 * a property access `x.k`, an element access `x['k']`, a destructured `{k}`, or the string 'k'
 * (a key passed by name, as hook events are). Where it must be read:
 * - a top-level key: anywhere in src/ outside src/boxfile/;
 * - `targets.T.*`: in the target's own folder, src/providers/T/;
 * - a provisioner's keys: in src/provisioners/ (and what it imports);
 * - any other nested key (`synced_folders[].exclude`): in the files that read its top-level key
 *   and the files those import, so a common word (`owner`) read elsewhere does not count.
 */
import assert from 'node:assert/strict';
import {readdirSync, readFileSync, statSync} from 'node:fs';
import path from 'node:path';
import {describe, test} from 'node:test';
import ts from 'typescript';
import '../../src/providers/registry.js';
import {boxfileJsonSchema} from '../../src/boxfile/json-schema.js';
import {repoRoot} from '../helpers/cli.js';

/**
 * Keys consumed inside src/boxfile/ itself, each with why it needs no reader elsewhere. Keep it
 * short: a key added here is a key the guard stops checking.
 */
const CONSUMED_IN_BOXFILE: Record<string, string> = {
  'version': 'the format version: the schema accepts only 1',
  'machines': 'the machine map: load.ts makes one MachineConfig per entry',
  'environments': 'overlays: load.ts merges the chosen one (--env) into the settings',
  'networks[].type': 'its one value, private, is the only kind of network there is',
};

/** Boxfile keys whose value reaches the code under another name (resolve.ts, basebox.ts). */
const RENAMED: Record<string, string[]> = {
  'basebox_url': ['url'],
  'ssh.timeout': ['timeoutSeconds'],
};

const camel = (key: string): string => key.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());

interface SchemaNode {
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  anyOf?: SchemaNode[];
  oneOf?: SchemaNode[];
  allOf?: SchemaNode[];
  additionalProperties?: SchemaNode | boolean;
  const?: unknown;
  enum?: unknown[];
}

/** Every key path of the schema, `[]` for array items, record values (machines, environments) folded into the settings they hold. */
export function schemaKeyPaths(): Array<{path: string; segments: string[]; provisioner?: string}> {
  const schema = boxfileJsonSchema() as {definitions: Record<string, SchemaNode>};
  const found = new Map<string, {path: string; segments: string[]; provisioner?: string}>();
  const walk = (node: SchemaNode | undefined, segments: string[], provisioner?: string): void => {
    if (!node || typeof node !== 'object') return;
    for (const [key, child] of Object.entries(node.properties ?? {})) {
      const next = [...segments, key];
      const keyPath = next.join('.').replaceAll('.[]', '[]');
      if (!found.has(`${provisioner ?? ''}:${keyPath}`)) found.set(`${provisioner ?? ''}:${keyPath}`, {path: keyPath, segments: next, ...(provisioner ? {provisioner} : {})});
      walk(child, next, provisioner);
    }
    if (node.items) walk(node.items, [...segments, '[]'], provisioner);
    for (const variants of [node.anyOf, node.oneOf, node.allOf]) {
      for (const variant of variants ?? []) {
        // A provisioner variant names its type: its keys are that provisioner's.
        const type = segments[0] === 'provisioners' ? variant.properties?.type?.const ?? variant.properties?.type?.enum?.[0] : undefined;
        walk(variant, segments, typeof type === 'string' ? type : provisioner);
      }
    }
    if (node.additionalProperties && typeof node.additionalProperties === 'object') {
      // machines.NAME and environments.ENV hold machine settings: the same keys again, not new ones.
      const holdsSettings = segments.at(-1) === 'machines' || segments.at(-1) === 'environments';
      walk(node.additionalProperties, holdsSettings ? [] : [...segments, '*'], provisioner);
    }
  };
  walk(schema.definitions.Boxfile, []);
  return [...found.values()];
}

/** What each source file reads (property names, per the rule above) and imports. */
interface SourceFacts {
  reads: Set<string>;
  imports: string[];
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const full = path.join(dir, entry);
    return statSync(full).isDirectory() ? sourceFiles(full) : full.endsWith('.ts') ? [full] : [];
  });
}

function factsOf(file: string): SourceFacts {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const reads = new Set<string>();
  const imports: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isPropertyAccessExpression(node)) reads.add(node.name.text);
    else if (ts.isElementAccessExpression(node) && ts.isStringLiteralLike(node.argumentExpression)) reads.add(node.argumentExpression.text);
    else if (ts.isBindingElement(node) && ts.isObjectBindingPattern(node.parent)) {
      const name = node.propertyName ?? node.name;
      if (ts.isIdentifier(name) || ts.isStringLiteralLike(name)) reads.add(name.text);
    } else if (ts.isStringLiteralLike(node) && !ts.isImportDeclaration(node.parent) && !ts.isExportDeclaration(node.parent)) reads.add(node.text);
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier) && node.moduleSpecifier.text.startsWith('.')) {
      imports.push(path.resolve(path.dirname(file), node.moduleSpecifier.text.replace(/\.js$/, '.ts')));
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return {reads, imports};
}

/** The source facts of src/ outside src/boxfile/ (what parses the Boxfile is no reader of it). */
export function readersOutsideBoxfile(srcDir: string): Map<string, SourceFacts> {
  const boxfileDir = path.join(srcDir, 'boxfile') + path.sep;
  return new Map(sourceFiles(srcDir).filter((f) => !f.startsWith(boxfileDir)).map((f) => [f, factsOf(f)]));
}

/** Files plus everything they import (inside `facts`), transitively. */
function withImports(files: Iterable<string>, facts: Map<string, SourceFacts>): Set<string> {
  const out = new Set<string>();
  const queue = [...files];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (out.has(file) || !facts.has(file)) continue;
    out.add(file);
    queue.push(...facts.get(file)!.imports);
  }
  return out;
}

/** Key paths (`synced_folders[].owner`) that nothing outside src/boxfile/ reads where it should. */
export function unreadKeys(srcDir: string): string[] {
  const facts = readersOutsideBoxfile(srcDir);
  const names = (keyPath: string, key: string): string[] => [key, camel(key), ...(RENAMED[keyPath] ?? [])];
  const readIn = (files: Iterable<string>, wanted: string[]): boolean => [...files].some((f) => wanted.some((n) => facts.get(f)?.reads.has(n)));
  const everywhere = [...facts.keys()];
  const unread: string[] = [];
  for (const {path: keyPath, segments, provisioner} of schemaKeyPaths()) {
    if (keyPath in CONSUMED_IN_BOXFILE) continue;
    const key = segments.at(-1)!;
    if (key === '*' || key === '[]') continue;
    let scope: Iterable<string>;
    if (segments.length === 1) scope = everywhere;
    else if (segments[0] === 'targets') {
      // `targets.qemu` itself is read by the registry by name; its settings in the target's folder.
      if (segments.length === 2) continue;
      scope = everywhere.filter((f) => f.startsWith(path.join(srcDir, 'providers', segments[1]!) + path.sep));
    } else if (provisioner) scope = withImports(everywhere.filter((f) => f.startsWith(path.join(srcDir, 'provisioners') + path.sep)), facts);
    else {
      const top = segments[0]!;
      scope = withImports(everywhere.filter((f) => readIn([f], names(top, top))), facts);
    }
    if (!readIn(scope, names(keyPath, key))) unread.push(keyPath);
  }
  return unread;
}

describe('every Boxfile key is honoured', () => {
  test('each key of the Boxfile schema is read by code outside src/boxfile/ (a setting box accepts is a setting box honours)', () => {
    const unread = unreadKeys(path.join(repoRoot, 'src'));
    assert.deepEqual(unread, [], `Boxfile keys that box parses but never uses: ${unread.join(', ')}. Use them, refuse them with "not supported yet", or (only if src/boxfile/ itself consumes them) list them in CONSUMED_IN_BOXFILE with why.`);
  });

  test('the guard sees the schema\'s keys, nested ones included', () => {
    const paths = schemaKeyPaths().map((k) => k.path);
    for (const expected of ['synced_folders[].exclude', 'ssh.timeout', 'targets.qemu.memory', 'hooks.setup[].run_remote', 'forwarded_ports[].host_ip', 'depends_on']) assert.ok(paths.includes(expected), expected);
    assert.ok(schemaKeyPaths().some((k) => k.provisioner === 'shell' && k.path === 'provisioners[].inline'));
  });
});
