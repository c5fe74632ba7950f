import {readFile} from 'node:fs/promises';
import path from 'node:path';
import {isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node, type Pair, type YAMLMap} from 'yaml';
import {UsageError} from '../core/errors.js';
import type {BoxfileIssue, IssuePath} from './issues.js';

/**
 * One YAML file of the configuration (the Boxfile or ~/.box/config.yaml), parsed with node
 * positions kept so that every error can point at `file:line:col`.
 */
export interface SourceFile {
  /** Absolute path. */
  path: string;
  /** How messages name the file: relative to cwd for the Boxfile, absolute for user config. */
  display: string;
  doc: Document.Parsed;
  lineCounter: LineCounter;
  /** Plain data (aliases resolved); `{}` for an empty file. */
  data: unknown;
}

export interface Position {
  line: number;
  column: number;
}

export async function readSource(file: string, display: string): Promise<{source: SourceFile; issues: BoxfileIssue[]}> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new UsageError('ERR_BOXFILE_UNREADABLE', `Cannot read ${display}: ${(error as Error).message}`, {hint: 'Check that the file exists and that you may read it.'});
  }
  return parseSource(text, file, display);
}

export function parseSource(text: string, file: string, display: string): {source: SourceFile; issues: BoxfileIssue[]} {
  const lineCounter = new LineCounter();
  // uniqueKeys (default) makes a repeated key a syntax error instead of a silent override.
  // merge: YAML 1.1 merge keys (`<<: *base`) are common in multi-machine files; support them.
  const doc = parseDocument(text, {lineCounter, prettyErrors: false, uniqueKeys: true, merge: true});
  const source: SourceFile = {path: file, display, doc, lineCounter, data: {}};
  const issues: BoxfileIssue[] = doc.errors.map((error) => {
    const pos = lineCounter.linePos(error.pos[0]);
    return {file: display, line: pos.line, column: pos.col, path: '', message: `YAML syntax error: ${error.message.split('\n')[0]}`};
  });
  if (issues.length > 0) return {source, issues};
  let data: unknown;
  try {
    data = doc.toJS({maxAliasCount: 1000});
  } catch (error) {
    // Alias bombs and merge keys that point at non-mappings fail only when resolved.
    return {source, issues: [{file: display, line: 1, column: 1, path: '', message: `YAML error: ${(error as Error).message.split('\n')[0]}`}]};
  }
  source.data = data === null || data === undefined ? {} : data;
  return {source, issues};
}

/** Start of a node, or 1:1 when the node has no range (empty document). */
function nodePosition(source: SourceFile, node: Node | null | undefined): Position {
  const offset = node?.range?.[0] ?? 0;
  const pos = source.lineCounter.linePos(offset);
  return {line: pos.line, column: pos.col};
}

/**
 * Where a path points in the file. `key` points at the mapping key of the last segment (unknown
 * keys), `value` at the value (bad values). A segment that does not exist in the file (missing
 * key) falls back to the nearest existing parent, which is what a "missing key" error should show.
 */
export function locate(source: SourceFile, segments: IssuePath, target: 'key' | 'value' = 'value'): Position {
  let node: unknown = source.doc.contents;
  // The key node through which we reached `node` (undefined at the root or inside a list).
  let viaKey: Node | undefined;
  for (const segment of segments) {
    node = resolveAlias(source, node);
    if (isMap(node)) {
      const pair = findPair(source, node, String(segment));
      if (!pair) return missing(source, node as Node, viaKey);
      viaKey = pair.key as Node;
      node = pair.value;
    } else if (isSeq(node) && typeof segment === 'number' && node.items[segment] !== undefined) {
      viaKey = undefined;
      node = node.items[segment];
    } else {
      return missing(source, node as Node, viaKey);
    }
  }
  if (target === 'key' && viaKey) return nodePosition(source, viaKey);
  // A key with an empty value (`web:`) has no value node; show the key then.
  const valueNode = node as Node | null | undefined;
  if (!valueNode?.range && viaKey) return nodePosition(source, viaKey);
  return nodePosition(source, valueNode);
}

function resolveAlias(source: SourceFile, node: unknown): unknown {
  return isAlias(node) ? node.resolve(source.doc) ?? node : node;
}

/** The pair for `key` in a mapping, also looking through merge keys (`<<: *base`) into the anchor. */
function findPair(source: SourceFile, map: YAMLMap, key: string, depth = 0): Pair | undefined {
  // With `merge: true` the parser gives a merge key the value Symbol(<<).
  const keyOf = (item: Pair): string => {
    const value = isScalar(item.key) ? item.key.value : item.key;
    return typeof value === 'symbol' ? (value.description ?? '') : String(value);
  };
  const own = map.items.find((item) => keyOf(item) === key);
  if (own || depth > 5) return own;
  for (const item of map.items.filter((i) => keyOf(i) === '<<')) {
    const sources = isSeq(item.value) ? item.value.items : [item.value];
    for (const merged of sources) {
      const target = resolveAlias(source, merged);
      const found = isMap(target) ? findPair(source, target, key, depth + 1) : undefined;
      if (found) return found;
    }
  }
  return undefined;
}

/** A missing key is reported on its parent mapping: the parent's key when it has one. */
function missing(source: SourceFile, parent: Node | null | undefined, viaKey: Node | undefined): Position {
  return nodePosition(source, viaKey ?? parent);
}

/** How a file is named in messages: relative to cwd ("Boxfile", "../Boxfile") unless `absoluteOutside` and it is not under cwd. */
export function displayPath(file: string, cwd: string, absoluteOutside = false): string {
  const relative = path.relative(cwd, file);
  if (relative === '') return file;
  return absoluteOutside && (relative.startsWith('..') || path.isAbsolute(relative)) ? file : relative;
}
