import {closest, distance} from 'fastest-levenshtein';
import {z} from 'zod';
import {UsageError} from '../core/errors.js';
import {locate, type SourceFile} from './source.js';
import {isObject} from './locations.js';
import {targetAlias} from './schema.js';
import {formatPath, type BoxfileIssue, type IssuePath} from './issue-path.js';

export {formatPath, type BoxfileIssue, type IssuePath};

/** Prints a value the way the user wrote it, shortened: "two", 0, true, null, [1,2]. */
export function formatValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  // JSON has no Infinity: `disk: 1e400` would show as null.
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value);
  const text = typeof value === 'string' ? JSON.stringify(value) : JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

// Values under these keys may be secrets (provisioner env, user data, passwords): never echo them.
const secretish = /pass|secret|token|credential|^user_data$|^env$/i;

export function isSecretPath(segments: IssuePath): boolean {
  return segments.some((s) => typeof s === 'string' && secretish.test(s));
}

export function formatIssue(issue: BoxfileIssue): string {
  const where = `${issue.file}:${issue.line}:${issue.column}`;
  const field = issue.path ? ` ${issue.path}:` : '';
  const got = issue.got === undefined ? '' : ` (got ${issue.got})`;
  return `${where}${field} ${issue.message}${got}`;
}

/** Sorted by file, then position, so the list reads top to bottom like the file. */
export function sortIssues(issues: BoxfileIssue[]): BoxfileIssue[] {
  return [...issues].sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.column - b.column || a.path.localeCompare(b.path));
}

const MAX_LISTED_ISSUES = 200;

/** Throws the one usage error that carries every issue (exit code 2). */
export function throwIfIssues(issues: BoxfileIssue[], hint?: string): void {
  if (issues.length === 0) return;
  const sorted = sortIssues(issues);
  const files = [...new Set(sorted.map((i) => i.file))].join(', ');
  const title = sorted.length === 1 ? `1 error in ${files}:` : `${sorted.length} errors in ${files}:`;
  // Thousands of lines help no one on a terminal; --json carries every issue.
  const shown = sorted.slice(0, MAX_LISTED_ISSUES).map((i) => `  ${formatIssue(i)}`);
  if (sorted.length > MAX_LISTED_ISSUES) shown.push(`  ... and ${sorted.length - MAX_LISTED_ISSUES} more (--json lists them all)`);
  throw new UsageError('ERR_BOXFILE_INVALID', [title, ...shown].join('\n'), {
    hint: hint ?? 'Fix the fields listed above; `box validate` checks the Boxfile without running anything.',
    details: {errors: sorted},
  });
}

export function getAt(data: unknown, segments: IssuePath): unknown {
  let value = data;
  for (const segment of segments) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string | number, unknown>)[segment];
  }
  return value;
}

/** A did-you-mean suggestion when a word is close enough to one of the candidates. */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  if (candidates.length === 0) return undefined;
  // A shortened key (subnet, key, base) is meant as the longer one that starts with it.
  const lower = word.toLowerCase();
  const extended = lower.length >= 3 ? candidates.filter((c) => c.toLowerCase().startsWith(lower)).sort((a, b) => a.length - b.length) : [];
  if (extended.length > 0) return extended[0];
  const best = closest(word, candidates as string[]);
  const limit = Math.max(2, Math.floor(word.length / 3));
  return distance(word.toLowerCase(), best.toLowerCase()) <= limit ? best : undefined;
}

/** Removes wrappers (optional, effects, defaults) to reach the schema that holds the shape. */
function unwrap(schema: z.ZodTypeAny): z.ZodTypeAny {
  let current = schema;
  for (;;) {
    if (current instanceof z.ZodOptional || current instanceof z.ZodNullable) current = current.unwrap();
    else if (current instanceof z.ZodDefault) current = current._def.innerType;
    else if (current instanceof z.ZodEffects) current = current.innerType();
    else return current;
  }
}

/** Picks the option of a union that applies to `data` (by discriminator, else the first object). */
function pickOption(schema: z.ZodTypeAny, data: unknown): z.ZodTypeAny | undefined {
  if (schema instanceof z.ZodDiscriminatedUnion) {
    const value = getAt(data, [schema.discriminator]);
    return schema.optionsMap.get(value as string) as z.ZodTypeAny | undefined;
  }
  if (schema instanceof z.ZodUnion) {
    return (schema.options as z.ZodTypeAny[]).map(unwrap).find((o) => o instanceof z.ZodObject || o instanceof z.ZodRecord || o instanceof z.ZodArray);
  }
  return schema;
}

/** The schema that applies at `segments` in `data`, following records, lists and unions. */
export function schemaAt(root: z.ZodTypeAny, data: unknown, segments: IssuePath): z.ZodTypeAny | undefined {
  let schema: z.ZodTypeAny | undefined = unwrap(root);
  for (let i = 0; i <= segments.length && schema; i++) {
    schema = pickOption(unwrap(schema), getAt(data, segments.slice(0, i)));
    if (!schema || i === segments.length) break;
    const segment = segments[i];
    schema = unwrap(schema);
    if (schema instanceof z.ZodObject) schema = (schema.shape as Record<string, z.ZodTypeAny>)[String(segment)];
    else if (schema instanceof z.ZodRecord) schema = schema.valueSchema as z.ZodTypeAny;
    else if (schema instanceof z.ZodArray) schema = schema.element as z.ZodTypeAny;
    else return undefined;
    schema = schema ? unwrap(schema) : undefined;
  }
  return schema ? unwrap(schema) : undefined;
}

/**
 * Where else a misplaced key is allowed, below the current mapping (e.g. `cpus` at the top
 * level belongs under `targets.qemu`). Follows objects, list items and union options a few
 * levels deep; skips records, whose keys are user-chosen names.
 */
export function nestedKeyPaths(root: z.ZodTypeAny, data: unknown, segments: IssuePath, key: string, maxDepth = 3): string[] {
  const found: string[] = [];
  const visit = (schema: z.ZodTypeAny | undefined, prefix: string[], depth: number): void => {
    if (!schema || depth > maxDepth) return;
    const s = unwrap(schema);
    if (s instanceof z.ZodObject) {
      for (const [name, child] of Object.entries(s.shape as Record<string, z.ZodTypeAny>)) {
        if (name === key && prefix.length > 0) found.push([...prefix, name].join('.'));
        visit(child, [...prefix, name], depth + 1);
      }
    } else if (s instanceof z.ZodArray) {
      visit(s.element as z.ZodTypeAny, [...prefix.slice(0, -1), `${prefix.at(-1)}[]`], depth);
    } else if (s instanceof z.ZodDiscriminatedUnion || s instanceof z.ZodUnion) {
      const options = (s instanceof z.ZodDiscriminatedUnion ? [...s.optionsMap.values()] : s.options) as z.ZodTypeAny[];
      for (const option of new Set(options)) visit(option, prefix, depth);
    }
  };
  visit(schemaAt(root, data, segments), [], 0);
  return [...new Set(found)];
}

/** Keys allowed in the mapping at `segments` (empty when not an object schema). */
export function allowedKeys(root: z.ZodTypeAny, data: unknown, segments: IssuePath): string[] {
  const schema = schemaAt(root, data, segments);
  return schema instanceof z.ZodObject ? Object.keys(schema.shape as object) : [];
}

const typeWords: Record<string, string> = {
  object: 'a mapping',
  array: 'a list',
  string: 'a string',
  number: 'a number',
  integer: 'a whole number',
  boolean: 'true or false',
  null: 'null',
};

function describeExpected(expected: string): string {
  return typeWords[expected] ?? expected;
}

/**
 * Turns zod issues into positioned, plain-language issues: the key for unknown keys (with a
 * did-you-mean from the keys allowed there), the value for bad values, the parent mapping for
 * missing keys.
 */
export function issuesFromZod(error: z.ZodError, source: SourceFile, schema: z.ZodTypeAny): BoxfileIssue[] {
  const out: BoxfileIssue[] = [];
  const at = (segments: IssuePath, message: string, target: 'key' | 'value', got?: unknown, hasGot = true): void => {
    const pos = locate(source, segments, target);
    const shown = isSecretPath(segments) ? '(hidden)' : formatValue(got);
    out.push({file: source.display, line: pos.line, column: pos.column, path: formatPath(segments), message, ...(hasGot ? {got: shown} : {})});
  };
  for (const issue of error.issues) {
    const segments = issue.path;
    const value = getAt(source.data, segments);
    switch (issue.code) {
      case z.ZodIssueCode.unrecognized_keys: {
        const allowed = allowedKeys(schema, source.data, segments);
        for (const key of issue.keys) {
          const suggestion = didYouMean(key, allowed);
          const elsewhere = suggestion ? [] : nestedKeyPaths(schema, source.data, segments, key);
          const aliasOf = segments.at(-1) === 'targets' ? targetAlias(key)?.target : undefined;
          const hint = aliasOf ? ` (target ${key} is the ${aliasOf} target: its settings go under targets.${aliasOf})`
            : suggestion ? ` (did you mean ${suggestion}?)`
            : elsewhere.length > 0 ? ` here (it belongs under ${elsewhere.slice(0, 3).map((p) => p.replace(/\.[^.]+$/, '')).join(' or ')})`
              : allowed.length > 0 ? `; allowed here: ${allowed.join(', ')}` : '';
          const keyValue = isObject(value) ? value[key] : undefined;
          at([...segments, key], `unknown key${hint}`, 'key', keyValue, keyValue !== undefined && !isObject(keyValue) && !Array.isArray(keyValue));
        }
        break;
      }
      case z.ZodIssueCode.invalid_type: {
        if (value === undefined) {
          at(segments, `is required (${describeExpected(issue.expected)})`, 'value', undefined, false);
        } else {
          at(segments, `expected ${describeExpected(issue.expected)}`, 'value', value);
        }
        break;
      }
      case z.ZodIssueCode.invalid_literal:
        at(segments, `expected ${formatValue(issue.expected)}`, 'value', value);
        break;
      case z.ZodIssueCode.invalid_enum_value: {
        const options = issue.options.map(String);
        const suggestion = typeof value === 'string' ? didYouMean(value, options) : undefined;
        at(segments, `expected one of ${options.join(', ')}${suggestion ? ` (did you mean ${suggestion}?)` : ''}`, 'value', value);
        break;
      }
      case z.ZodIssueCode.invalid_union_discriminator: {
        const options = issue.options.map(String);
        if (value === undefined) {
          at(segments, `is required (one of ${options.join(', ')})`, 'value', undefined, false);
        } else {
          const suggestion = typeof value === 'string' ? didYouMean(value, options) : undefined;
          at(segments, `expected one of ${options.join(', ')}${suggestion ? ` (did you mean ${suggestion}?)` : ''}`, 'value', value);
        }
        break;
      }
      case z.ZodIssueCode.too_small:
        at(segments, issue.type === 'string' ? 'must not be empty'
          : issue.type === 'array' ? `needs at least ${issue.minimum} item(s)`
            : issue.inclusive ? `must be at least ${issue.minimum}` : `must be greater than ${issue.minimum}`, 'value', value);
        break;
      case z.ZodIssueCode.too_big:
        at(segments, issue.type === 'array' ? `allows at most ${issue.maximum} item(s)` : `must be at most ${issue.maximum}`, 'value', value);
        break;
      case z.ZodIssueCode.invalid_string: {
        // A record key that fails its regex (a machine or env variable name): point at the key.
        const parent = schemaAt(schema, source.data, segments.slice(0, -1));
        const key = segments.at(-1);
        const onKey = typeof value !== 'string' || (parent instanceof z.ZodRecord && !(parent.keySchema as z.ZodTypeAny).safeParse(key).success);
        at(segments, issue.message === 'Invalid' || issue.message.startsWith('Invalid ') ? `is not a valid ${String(issue.validation)}` : issue.message, onKey ? 'key' : 'value', onKey ? segments.at(-1) : value);
        break;
      }
      case z.ZodIssueCode.invalid_union: {
        // Every option failed on type: say which types are accepted.
        const expected = issue.unionErrors.flatMap((e) => e.issues).filter((i) => i.code === z.ZodIssueCode.invalid_type).map((i) => describeExpected((i as z.ZodInvalidTypeIssue).expected));
        at(segments, `expected ${[...new Set(expected)].join(' or ') || 'a different value'}`, 'value', value);
        break;
      }
      default:
        at(segments, issue.message, 'value', value, value !== undefined && typeof value !== 'object');
    }
  }
  return out;
}
