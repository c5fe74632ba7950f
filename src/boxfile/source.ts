import {open} from 'node:fs/promises';
import path from 'node:path';
import {Composer, isAlias, isMap, isScalar, isSeq, Lexer, LineCounter, Parser, type Alias, type Document, type Node, type Pair, type YAMLMap} from 'yaml';
import {UsageError} from '../core/errors.js';
import {formatBytes} from '../core/ui.js';
import {formatPath, type BoxfileIssue, type IssuePath} from './issue-path.js';
import {boxfileLimits, type BoxfileLimits} from './limits.js';
import {checkStructure} from './yaml-structure.js';

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
  /** The node each alias stands for (found once, in one pass). */
  aliasTargets: Map<Alias, Node>;
}

export interface Position {
  line: number;
  column: number;
}

/**
 * Reads at most `maxBytes` (+1, to tell a file that is too big), whatever the file claims to
 * be: a file that grows while it is read, or a special file, cannot make box read more.
 */
async function readBounded(file: string, maxBytes: number): Promise<{text: string; size: number} | {tooBig: string}> {
  const handle = await open(file, 'r');
  try {
    const {size} = await handle.stat();
    if (size > maxBytes) return {tooBig: formatBytes(size)};
    const chunks: Buffer[] = [];
    let length = 0;
    for (;;) {
      // What stat promised (+1 to see the end), at least 64 KiB for a file that grows or lies.
      const chunk = Buffer.alloc(Math.min(Math.max(size - length + 1, 64 * 1024), maxBytes + 1 - length, 1024 * 1024));
      const {bytesRead} = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      chunks.push(chunk.subarray(0, bytesRead));
      length += bytesRead;
      // It grew while read, or is not a plain file: its real size is unknown.
      if (length > maxBytes) return {tooBig: `more than ${formatBytes(maxBytes)}`};
    }
    return {text: Buffer.concat(chunks, length).toString('utf8'), size: length};
  } finally {
    await handle.close();
  }
}

export async function readSource(file: string, display: string, limits: BoxfileLimits = boxfileLimits): Promise<{source: SourceFile; issues: BoxfileIssue[]}> {
  let read: Awaited<ReturnType<typeof readBounded>>;
  try {
    read = await readBounded(file, limits.maxBytes);
  } catch (error) {
    throw new UsageError('ERR_BOXFILE_UNREADABLE', `Cannot read ${display}: ${(error as Error).message}`, {hint: 'Check that the file exists and that you may read it.'});
  }
  if ('tooBig' in read) {
    const {source} = parseSource('', file, display, limits);
    const message = `the file is ${read.tooBig}; box reads files of at most ${formatBytes(limits.maxBytes)} (a Boxfile is usually a few KiB)`;
    return {source, issues: [{file: display, line: 1, column: 1, path: '', message}]};
  }
  return parseSource(read.text, file, display, limits);
}

/** Thrown by the token stream when the nesting passes the limit: stops the parse there. */
class TooDeep extends Error {
  constructor(readonly offset: number) {
    super('too deep');
  }
}

/**
 * The YAML library's parseDocument, with a nesting bound checked as the text is read: the
 * parser's stack holds one entry per open mapping, list or scalar (plus the document), so it
 * stops at the first level past the limit instead of building (and later recursing into) a
 * structure 100 000 levels deep.
 */
function parseBounded(text: string, lineCounter: LineCounter, maxDepth: number): Document.Parsed {
  // Parser.parse() would record that line 1 starts at offset 0; feeding lexemes by hand, we do.
  lineCounter.addNewLine(0);
  const parser = new Parser(lineCounter.addNewLine);
  function* tokens(): Generator<ReturnType<Parser['end']> extends Generator<infer T> ? T : never> {
    for (const lexeme of new Lexer().lex(text)) {
      yield* parser.next(lexeme);
      // +2: the document itself and the scalar being read are on the stack too.
      if (parser.stack.length > maxDepth + 2) throw new TooDeep(parser.offset);
    }
    yield* parser.end();
  }
  // uniqueKeys off: the library compares each key with every earlier one (quadratic);
  // checkStructure finds repeated keys in one pass. merge: YAML 1.1 merge keys (`<<: *base`)
  // are common in multi-machine files; support them.
  const composer = new Composer({uniqueKeys: false, merge: true});
  let doc: Document.Parsed | undefined;
  for (const next of composer.compose(tokens(), true, text.length)) {
    if (!doc) {
      doc = next;
      continue;
    }
    doc.errors.push(Object.assign(new Error('the file holds more than one YAML document (a --- line); a Boxfile is one document'), {
      name: 'YAMLParseError', code: 'MULTIPLE_DOCS', pos: [next.range[0], next.range[1]],
    }) as unknown as (typeof doc.errors)[number]);
    break;
  }
  return doc!;
}

export function parseSource(text: string, file: string, display: string, limits: BoxfileLimits = boxfileLimits): {source: SourceFile; issues: BoxfileIssue[]} {
  const lineCounter = new LineCounter();
  const issueAt = (offset: number, segments: IssuePath, message: string): BoxfileIssue => {
    const pos = lineCounter.linePos(offset);
    return {file: display, line: pos.line, column: pos.col, path: formatPath(segments), message};
  };
  let doc: Document.Parsed;
  try {
    doc = parseBounded(text, lineCounter, limits.maxDepth);
  } catch (error) {
    if (!(error instanceof TooDeep)) throw error;
    const empty = parseBounded('', new LineCounter(), limits.maxDepth);
    const source: SourceFile = {path: file, display, doc: empty, lineCounter, data: {}, aliasTargets: new Map()};
    return {source, issues: [issueAt(error.offset, [], `nested more than ${limits.maxDepth} levels deep (mappings and lists); box reads at most ${limits.maxDepth} (a Boxfile needs about 8)`)]};
  }
  const source: SourceFile = {path: file, display, doc, lineCounter, data: {}, aliasTargets: new Map()};
  const syntax = doc.errors.map((error) => issueAt(error.pos[0], [], error.code === 'MULTIPLE_DOCS' ? error.message : `YAML syntax error: ${error.message.split('\n')[0]}`));
  if (syntax.length > 0) return {source, issues: syntax};
  const structure = checkStructure(doc, limits, (offset) => lineCounter.linePos(offset).line);
  source.aliasTargets = structure.aliasTargets;
  if (structure.problems.length > 0) return {source, issues: structure.problems.map((p) => issueAt(p.offset, p.path, p.message))};
  let data: unknown;
  try {
    // Aliases were bounded above (count and expanded size), with clearer messages than the
    // library's maxAliasCount, which also refuses an anchor used more than 1000 times.
    data = doc.toJS({maxAliasCount: -1});
  } catch (error) {
    return {source, issues: [issueAt(0, [], `YAML error: ${(error as Error).message.split('\n')[0]}`)]};
  }
  source.data = data === null || data === undefined ? {} : data;
  return {source, issues: []};
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
  return isAlias(node) ? source.aliasTargets.get(node) ?? node : node;
}

// Key → pair of each mapping, built the first time the mapping is searched, so that locating
// the errors of 50 000 machines is linear rather than a scan of `machines:` per error.
const pairIndexes = new WeakMap<YAMLMap, {pairs: Map<string, Pair>; merges: Pair[]}>();

function keyOf(item: Pair): string {
  // With `merge: true` the parser gives a merge key the value Symbol(<<).
  const value = isScalar(item.key) ? item.key.value : item.key;
  return typeof value === 'symbol' ? (value.description ?? '') : String(value);
}

function pairIndex(map: YAMLMap): {pairs: Map<string, Pair>; merges: Pair[]} {
  let index = pairIndexes.get(map);
  if (!index) {
    index = {pairs: new Map(), merges: []};
    for (const item of map.items as Pair[]) {
      const key = keyOf(item);
      if (key === '<<') index.merges.push(item);
      // The first pair of a key wins (a repeated key is an error of its own).
      else if (!index.pairs.has(key)) index.pairs.set(key, item);
    }
    pairIndexes.set(map, index);
  }
  return index;
}

/** The pair for `key` in a mapping, also looking through merge keys (`<<: *base`) into the anchor. */
function findPair(source: SourceFile, map: YAMLMap, key: string, depth = 0): Pair | undefined {
  const {pairs, merges} = pairIndex(map);
  const own = pairs.get(key);
  if (own || depth > 5) return own;
  for (const item of merges) {
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
