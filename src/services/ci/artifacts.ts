import {randomBytes} from 'node:crypto';
import {cp, mkdir, rm} from 'node:fs/promises';
import path from 'node:path';
import {Readable} from 'node:stream';
import {extractArchive} from '../../boxes/extract.js';
import type {Communicator} from '../../communicators/communicator.js';
import {shellQuote} from '../../communicators/ssh/remote-command.js';
import {BoxError, errorMessage} from '../../core/errors.js';

export interface CollectedArtifacts {
  /** Where they went: <artifacts dir>/<machine>. */
  dir: string;
  files: number;
  /** Patterns that matched nothing in the guest (a test that failed early writes no report). */
  missing: string[];
  /** Why collecting failed, if it did (the job goes on: the tests' status decides it). */
  error?: string;
}

const MISSING = 'box-artifact-missing: ';

/**
 * The guest half: expands each pattern (a path or shell glob; relative ones from the SSH user's
 * home, where the session starts), reports those that match nothing on stderr, and prints a
 * gzipped tar of the matches as base64 on stdout. Through the machine's own communicator, so it
 * works on every target and through every provider's way in; base64 because the communicator
 * carries text. Run with sudo: reports written by a privileged test are root's.
 */
export function artifactScript(patterns: readonly string[]): string {
  return [
    // Newline only: a matched name with spaces stays one word; globs still expand.
    'IFS=\'\n\'',
    'set --',
    `for pat in ${patterns.map(shellQuote).join(' ')}; do`,
    '  found=0',
    '  for f in $pat; do',
    '    if [ -e "$f" ] || [ -L "$f" ]; then set -- "$@" "$f"; found=1; fi',
    '  done',
    `  [ "$found" = 1 ] || printf '${MISSING}%s\\n' "$pat" >&2`,
    'done',
    '[ "$#" -gt 0 ] || exit 0',
    'd=$(mktemp -d) || exit 70',
    // GNU tar stores absolute names without their leading / (and says so on stderr: dropped).
    'tar -czf "$d/a.tgz" -- "$@" 2>"$d/err"; rc=$?',
    'grep -v "Removing leading" "$d/err" >&2',
    // 1: a file changed while it was read (a log still written); the archive is still whole.
    'if [ "$rc" -le 1 ]; then base64 "$d/a.tgz"; fi',
    'rm -rf "$d"',
    'exit "$rc"',
  ].join('\n');
}

/**
 * Copies the machine's artifacts from the guest into `<dir>/<machine>`: absolute guest paths
 * keep their path below it (/var/log/app.log → <dir>/<machine>/var/log/app.log), relative ones
 * their path from the home folder. The archive is unpacked with the box store's safe extractor
 * (no absolute names, `..` or links out of the folder), into a fresh folder first, so a
 * damaged transfer never leaves half of it mixed with an earlier run's files.
 */
export async function collectArtifacts(comm: Communicator, patterns: readonly string[], options: {dir: string; machine: string; signal: AbortSignal; onWarning: (line: string) => void}): Promise<CollectedArtifacts> {
  const dest = path.join(options.dir, options.machine);
  const result: CollectedArtifacts = {dir: dest, files: 0, missing: []};
  if (patterns.length === 0) return result;
  const out: string[] = [];
  let err = '';
  try {
    const code = await comm.exec(artifactScript(patterns), {
      sudo: true, signal: options.signal,
      onOutput: (stream, data) => { if (stream === 'stdout') out.push(data); else err += data; },
    });
    for (const line of err.split('\n')) {
      if (line.startsWith(MISSING)) result.missing.push(line.slice(MISSING.length));
      else if (line.trim()) options.onWarning(line);
    }
    if (code > 1) throw new BoxError('ERR_CI_ARTIFACTS', `packing the artifacts in the guest failed (tar exited with ${code})`);
    const archive = Buffer.from(out.join(''), 'base64');
    if (archive.length === 0) return result;
    await mkdir(options.dir, {recursive: true});
    const staging = path.join(options.dir, `.${options.machine}-${randomBytes(4).toString('hex')}`);
    await mkdir(staging);
    try {
      result.files = (await extractArchive(Readable.from([archive]), staging, `the artifacts of ${options.machine}`, options.signal)).files;
      await cp(staging, dest, {recursive: true, force: true, verbatimSymlinks: true});
    } finally {
      await rm(staging, {recursive: true, force: true});
    }
  } catch (error) {
    result.error = errorMessage(error);
  }
  return result;
}
