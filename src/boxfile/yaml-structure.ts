import {isAlias, isMap, isScalar, isSeq, type Alias, type Document, type Node, type Pair} from 'yaml';
import type {IssuePath} from './issues.js';
import type {BoxfileLimits} from './limits.js';

/** A problem in the shape of the YAML, at a character offset of the file. */
export interface StructureProblem {
  offset: number;
  path: IssuePath;
  message: string;
}

export interface YamlStructure {
  /** The node each alias stands for (the last anchor of that name before it, as YAML says). */
  aliasTargets: Map<Alias, Node>;
  problems: StructureProblem[];
}

/** Thrown inside the walk when a limit is crossed: nothing after it is worth reading. */
class LimitReached extends Error {}

/**
 * One pass over a parsed document, linear in its size, that finds what the YAML library either
 * checks in quadratic time or only when it converts to plain data:
 * - a key repeated in one mapping (the library's `uniqueKeys` compares each key with every key
 *   before it: 100 000 machines took 128 s). Keys compare as the plain data sees them, so `1`
 *   and `"1"` are the same key; repeated merge keys (`<<`) are allowed, as in the library;
 * - keys that are mappings or lists (plain data can only have text keys);
 * - anchors plus aliases over `maxAliases`, and aliases that expand the data beyond `maxValues`
 *   values (the "billion laughs" bomb), or that point into their own anchor (a structure that
 *   contains itself, which would never end when checked);
 * - merge keys (`<<`) whose value is not a mapping, an alias of one, or a list of those.
 * It also records which node every alias stands for, so positions are found without the
 * library's alias lookup (a scan of the whole document per alias).
 */
export function checkStructure(doc: Document.Parsed, limits: Pick<BoxfileLimits, 'maxAliases' | 'maxValues'>, lineOf: (offset: number) => number): YamlStructure {
  const aliasTargets = new Map<Alias, Node>();
  const problems: StructureProblem[] = [];
  const anchors = new Map<string, Node>();
  const expandedSize = new Map<Node, number>();
  const open = new Set<Node>();
  const path: IssuePath = [];
  let anchorsAndAliases = 0;

  const problem = (node: {range?: [number, number, number?] | null} | null | undefined, message: string): void => {
    problems.push({offset: node?.range?.[0] ?? 0, path: [...path], message});
  };
  const countAnchorOrAlias = (node: Node): void => {
    anchorsAndAliases++;
    if (anchorsAndAliases > limits.maxAliases) {
      problem(node, `more than ${limits.maxAliases} YAML anchors and aliases (&name, *name); box reads at most ${limits.maxAliases}`);
      throw new LimitReached();
    }
  };

  const visit = (node: unknown): number => {
    if (node === null || node === undefined) return 0;
    if (isAlias(node)) {
      countAnchorOrAlias(node);
      const target = anchors.get(node.source);
      if (!target) {
        problem(node, `alias *${node.source} has no anchor &${node.source} before it`);
        return 1;
      }
      aliasTargets.set(node, target);
      if (open.has(target)) {
        problem(node, `alias *${node.source} is inside the value anchored &${node.source}: a value cannot contain itself`);
        return 1;
      }
      return expandedSize.get(target) ?? 1;
    }
    const n = node as Node;
    if (n.anchor) {
      countAnchorOrAlias(n);
      anchors.set(n.anchor, n);
      open.add(n);
    }
    let size = 1;
    if (isMap(n)) {
      const seen = new Map<string, Pair>();
      for (const pair of n.items as Pair[]) {
        const key = keyText(pair.key, aliasTargets);
        path.push(key === MERGE ? '<<' : key ?? '?');
        if (key === undefined) {
          problem(pair.key as Node, 'a key must be a plain value such as a name, not a mapping or a list');
        } else if (key === MERGE) {
          if (!isMergeSource(pair.value, aliasTargets, anchors)) problem((pair.value ?? pair.key) as Node, '<< (merge key) takes a mapping, an alias of one (*name) or a list of them');
        } else {
          const first = seen.get(key);
          if (first) problem(pair.key as Node, `key repeated in this mapping (first on line ${lineOf((first.key as Node | null)?.range?.[0] ?? 0)}); one value would silently replace the other`);
          else seen.set(key, pair);
        }
        size += visit(pair.key) + visit(pair.value);
        path.pop();
      }
    } else if (isSeq(n)) {
      n.items.forEach((item, index) => {
        path.push(index);
        size += visit(item);
        path.pop();
      });
    }
    if (size > limits.maxValues) {
      problem(n, `expands to more than ${limits.maxValues} values through YAML aliases; box reads at most ${limits.maxValues}`);
      throw new LimitReached();
    }
    if (n.anchor) {
      open.delete(n);
      expandedSize.set(n, size);
    }
    return size;
  };

  try {
    visit(doc.contents);
  } catch (error) {
    if (!(error instanceof LimitReached)) throw error;
  }
  return {aliasTargets, problems};
}

const MERGE = Symbol('merge key');

/** The key as plain data names it (as the YAML library's toJS does), MERGE, or undefined for a collection key. */
function keyText(key: unknown, aliasTargets: Map<Alias, Node>): string | typeof MERGE | undefined {
  const resolved = isAlias(key) ? aliasTargets.get(key) : key;
  if (resolved === null || resolved === undefined) return '';
  if (!isScalar(resolved)) return undefined;
  const value = resolved.value;
  if (typeof value === 'symbol') return MERGE;
  return value === null ? '' : String(value);
}

function isMergeSource(value: unknown, aliasTargets: Map<Alias, Node>, anchors: Map<string, Node>): boolean {
  const isMapOrAlias = (v: unknown): boolean => {
    if (isMap(v)) return true;
    // The alias's own entry is set when the walk reaches it; look the anchor up now.
    if (isAlias(v)) return isMap(aliasTargets.get(v) ?? anchors.get(v.source));
    return false;
  };
  if (isSeq(value)) return value.items.every(isMapOrAlias);
  return isMapOrAlias(value);
}
