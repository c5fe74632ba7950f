import {UsageError} from '../core/errors.js';
import {quoted} from '../core/printable.js';

/**
 * Box versions follow Vagrant, which uses RubyGems versions (not strict semver): "0", "1.2",
 * "2024.01.15", "1.0.0.beta1". Segments compare numerically, letters make a pre-release
 * (lower than the release), trailing zeros do not count ("1.0" == "1"). Constraints are
 * Gem requirements joined by commas (AND): ">= 1.0, < 2", "~> 1.2", "= 3", "!= 1.1".
 */
const VERSION_RE = /^[0-9]+(\.[0-9a-zA-Z]+)*(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$/;

export function isValidVersion(version: string): boolean {
  return VERSION_RE.test(version.trim());
}

/** Longest version string (RubyGems versions such as 2024.01.15.1-beta2 are a few dozen). */
export const MAX_VERSION_LENGTH = 64;

/** Why `version` cannot be a version folder of the store, or undefined when it can (exact text: no spaces). */
export function storedVersionProblem(version: string): string | undefined {
  if (version.length > MAX_VERSION_LENGTH) return `is ${version.length} characters long (at most ${MAX_VERSION_LENGTH})`;
  if (version !== version.trim() || !VERSION_RE.test(version)) return 'is not a box version (e.g. 1.2.0 or 2024.01.15)';
  return undefined;
}

type Segment = number | string;

function segments(version: string): Segment[] {
  // As RubyGems: "1.0.0-beta" is "1.0.0.pre.beta"; letter runs split from digits.
  const parts = version.trim().replace(/-/g, '.pre.').match(/[0-9]+|[a-z]+/gi) ?? [];
  const segs: Segment[] = parts.map((p) => (/^\d+$/.test(p) ? Number(p) : p));
  // Drop trailing zeros of the release part so 1.0 == 1 (and 1.0.a == 1.a as Gem does).
  const firstString = segs.findIndex((s) => typeof s === 'string');
  const release = firstString === -1 ? segs : segs.slice(0, firstString);
  const rest = firstString === -1 ? [] : segs.slice(firstString);
  while (release.length > 1 && release.at(-1) === 0) release.pop();
  return [...release, ...rest];
}

/** Compares two versions the way Gem::Version#<=> does: negative, zero or positive. */
export function compareVersions(a: string, b: string): number {
  const sa = segments(a);
  const sb = segments(b);
  const n = Math.max(sa.length, sb.length);
  for (let i = 0; i < n; i++) {
    const x = sa[i] ?? 0;
    const y = sb[i] ?? 0;
    if (x === y) continue;
    if (typeof x === 'string' && typeof y === 'number') return -1;
    if (typeof x === 'number' && typeof y === 'string') return 1;
    if (typeof x === 'number' && typeof y === 'number') return x - y;
    return String(x) < String(y) ? -1 : 1;
  }
  return 0;
}

type Op = '=' | '!=' | '>' | '<' | '>=' | '<=' | '~>';
interface Requirement {op: Op; version: string}

function parseRequirement(text: string, whole: string): Requirement {
  const m = /^\s*(=|!=|>=|<=|>|<|~>)?\s*(\S+)\s*$/.exec(text);
  if (!m || !isValidVersion(m[2])) {
    throw new UsageError('ERR_BOX_VERSION', `Invalid version constraint "${whole}": could not read "${text.trim()}".`, {
      hint: 'Use versions such as "1.2.0" or constraints such as ">= 1.0, < 2" or "~> 1.2" (comma means AND).',
    });
  }
  return {op: (m[1] ?? '=') as Op, version: m[2]};
}

function satisfies(version: string, r: Requirement): boolean {
  const c = compareVersions(version, r.version);
  switch (r.op) {
    case '=': return c === 0;
    case '!=': return c !== 0;
    case '>': return c > 0;
    case '<': return c < 0;
    case '>=': return c >= 0;
    case '<=': return c <= 0;
    case '~>': {
      // "~> 1.2" means >= 1.2 and < 2; "~> 1.2.3" means >= 1.2.3 and < 1.3 (Gem's pessimistic operator).
      if (c < 0) return false;
      const release = r.version.split('.').filter((s) => /^\d+$/.test(s)).map(Number);
      const upper = release.length > 1 ? release.slice(0, -1) : release.slice();
      upper[upper.length - 1]++;
      return compareVersions(version, upper.join('.')) < 0;
    }
  }
}

/** A parsed constraint; `undefined`/empty text matches every version. */
export class VersionConstraint {
  readonly text: string;
  private readonly requirements: Requirement[];

  constructor(text: string | undefined) {
    this.text = text?.trim() || '>= 0';
    this.requirements = this.text.split(',').map((part) => parseRequirement(part, this.text));
  }

  matches(version: string): boolean {
    if (!isValidVersion(version)) return false;
    return this.requirements.every((r) => satisfies(version, r));
  }

  /** The newest of `versions` that matches, or undefined. */
  newest(versions: readonly string[]): string | undefined {
    return [...versions].filter((v) => this.matches(v)).sort(compareVersions).at(-1);
  }
}

/** Throws a usage error unless `version` is an exact box version (for `box box add NAME FILE`). */
export function assertExactVersion(version: string, what = '--box-version'): string {
  const why = storedVersionProblem(version.trim());
  if (why) {
    throw new UsageError('ERR_BOX_VERSION', `Invalid box version ${quoted(version)} for ${what}: it ${why}.`, {
      hint: 'Constraints (">= 1.0") are only allowed when adding from a catalog; a box file needs one exact version.',
    });
  }
  return version.trim();
}
