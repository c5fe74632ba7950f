import {writeFile} from 'node:fs/promises';
import path from 'node:path';
import {tryRun} from '../core/exec.js';
import {anchoredPattern} from './rsync-args.js';

/**
 * What a `gitignore: true` folder leaves out, decided by git itself: `git ls-files --others
 * --ignored --exclude-standard --directory` lists every untracked path that the folder's
 * .gitignore files (nested ones each for their own subtree, with `!` negations and anchoring as
 * git reads them), .git/info/exclude and the user's global excludes ignore; an ignored folder
 * comes as one entry (node_modules/), not its files. rsync's own `:- .gitignore` dir-merge reads
 * the same files but not as git does: a `!` line clears rsync's list instead of re-including, and
 * `a/b` matches at any depth where git anchors it. Tracked files are copied even when a
 * .gitignore pattern matches them (git does not ignore them either).
 *
 * Returns the NUL-separated rsync merge rules (`- /path`), or undefined when the source is not
 * inside a git work tree (or git is not installed): then rsync's dir-merge is the fallback.
 */
export async function gitIgnoredRules(source: string, signal?: AbortSignal): Promise<string | undefined> {
  const inside = await tryRun('git', ['-C', source, 'rev-parse', '--is-inside-work-tree'], {signal});
  if (inside?.trim() !== 'true') return undefined;
  // Paths come relative to `source` (cwd) and limited to it; -z keeps odd names intact.
  const listed = await tryRun('git', ['-c', 'core.quotePath=off', 'ls-files', '-z', '--others', '--ignored', '--exclude-standard', '--directory'], {cwd: source, signal});
  if (listed === null) return undefined;
  const rules = listed.split('\0').filter((entry) => entry !== '').map((entry) => `- ${anchoredPattern(entry.replace(/\/$/, ''), entry.endsWith('/'))}`);
  return rules.map((rule) => `${rule}\0`).join('');
}

/** Writes the rules where rsync reads them (`--filter=merge FILE` with `--from0`). */
export async function writeGitIgnoredRules(rules: string, dir: string, name: string): Promise<string> {
  const file = path.join(dir, `${name}.gitignore-rules`);
  await writeFile(file, rules);
  return file;
}
