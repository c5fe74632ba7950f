import {statSync} from 'node:fs';
import path from 'node:path';
import {loadExeca} from '../core/exec.js';

/** One rsync exclude pattern as a test of a path relative to the folder (forward slashes). */
interface CompiledPattern {
  regex: RegExp;
  /** A trailing slash: matches folders only. */
  dirOnly: boolean;
}

/** rsync's wildcard language as a regex body: `**` crosses slashes, `*` and `?` do not, `\` escapes. */
function wildcardBody(pattern: string): string {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\' && i + 1 < pattern.length) out += pattern[++i]!.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    else if (c === '*' && pattern[i + 1] === '*') {
      out += '.*';
      i++;
    } else if (c === '*') out += '[^/]*';
    else if (c === '?') out += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end === -1) out += '\\[';
      else {
        out += `[${pattern.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else out += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return out;
}

/**
 * rsync's exclude matching (as `box rsync-auto` needs it to tell which changes rsync would copy):
 * a pattern starting with / is anchored at the folder, one without matches the end of a path
 * at a name boundary (so `*.log` matches in every folder), a trailing / matches folders only.
 */
export function compileExclude(pattern: string): CompiledPattern {
  const dirOnly = pattern.endsWith('/');
  const body = pattern.replace(/\/+$/, '');
  const anchored = body.startsWith('/');
  return {regex: new RegExp(`${anchored ? '^' : '(^|/)'}${wildcardBody(anchored ? body.slice(1) : body)}$`), dirOnly};
}

/**
 * Whether a change at `relative` (to the folder `source`) is one rsync would copy: false when
 * the path or a folder above it matches an exclude (rsync never enters an excluded folder).
 */
export function changeMatters(source: string, relative: string, patterns: readonly CompiledPattern[]): boolean {
  const parts = relative.split(path.sep).filter((p) => p !== '' && p !== '.');
  for (let depth = 1; depth <= parts.length; depth++) {
    const prefix = parts.slice(0, depth).join('/');
    const isLast = depth === parts.length;
    // Folders above the path are folders; the path itself may be gone (a deletion): then it is no folder.
    const isDir = !isLast || (statSync(path.join(source, relative), {throwIfNoEntry: false})?.isDirectory() ?? false);
    if (patterns.some((p) => (!p.dirOnly || isDir) && p.regex.test(prefix))) return false;
  }
  return true;
}

/**
 * Of changed paths (relative to `source`), those git does not ignore (`git check-ignore`: the
 * same rules the copy leaves out with `gitignore: true`). All of them when `source` is no git
 * work tree (rsync's dir-merge then decides at the copy).
 */
export async function notGitIgnored(source: string, relatives: readonly string[], signal?: AbortSignal): Promise<string[]> {
  if (relatives.length === 0) return [];
  const execa = await loadExeca();
  const result = await execa('git', ['check-ignore', '-z', '--stdin'], {cwd: source, input: relatives.join('\0'), reject: false, cancelSignal: signal, env: {LANG: 'C'}});
  // 0: some are ignored, 1: none is, 128: not a work tree (or no git).
  if (result.exitCode !== 0) return [...relatives];
  const ignored = new Set(String(result.stdout).split('\0').filter(Boolean));
  return relatives.filter((r) => !ignored.has(r));
}
