import {randomUUID} from 'node:crypto';
import {existsSync} from 'node:fs';
import {mkdtemp, open, rm, writeFile, type FileHandle} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {isAbortError, throwIfAborted} from '../core/errors.js';
import type {Communicator, OutputStream} from './communicator.js';
import {shellQuote} from './ssh/remote-command.js';

/**
 * What to run in the guest: script text (uploaded), a host script file (uploaded as it is), or
 * short inline commands (run with `sh -ec`, nothing uploaded).
 */
export type GuestScript = {text: string} | {file: string} | {inline: string};

export interface RunScriptOptions {
  /** With sudo (root) when true. */
  privileged: boolean;
  args?: readonly string[];
  env?: Record<string, string>;
  signal?: AbortSignal;
  onOutput?: (stream: OutputStream, data: string) => void;
  /** The remote files are /tmp/<prefix>-<random>.sh and .pid. */
  prefix?: string;
}

/**
 * The one way box runs a script in a guest (provisioning, build post-install, the AMI bake), as
 * Vagrant's shell provisioner does: the script is uploaded to /tmp and executed, so shebangs and
 * `set -e` behave as they would locally; one without a shebang runs with bash when the guest has
 * it, else sh. It runs in its own process group, which Ctrl-C (an abort of `signal`) stops with
 * everything it started. Resolves with the exit code.
 */
export async function runGuestScript(comm: Communicator, script: GuestScript, options: RunScriptOptions): Promise<number> {
  throwIfAborted(options.signal);
  const base = `/tmp/${options.prefix ?? 'box-script'}-${randomUUID().slice(0, 8)}`;
  const pidFile = `${base}.pid`;
  let remote: string | undefined;
  let program: string;
  if ('inline' in script) {
    program = `set -- sh -ec ${shellQuote(script.inline)} sh "$@"`;
  } else {
    remote = `${base}.sh`;
    const hasShebang = 'text' in script ? script.text.startsWith('#!') : await startsWithShebang(script.file);
    if ('text' in script) await uploadText(comm, script.text, remote, options.signal);
    else await comm.upload(script.file, remote, {signal: options.signal});
    program = hasShebang
      ? `chmod +x ${remote} && set -- ${remote} "$@"`
      : `if command -v bash >/dev/null 2>&1; then set -- bash ${remote} "$@"; else set -- sh ${remote} "$@"; fi`;
  }
  const files = [remote, pidFile].filter(Boolean).join(' ');
  try {
    return await comm.exec(processGroupCommand(program, pidFile, files, options.args ?? []), {
      sudo: options.privileged, env: options.env, signal: options.signal, onOutput: options.onOutput,
    });
  } catch (error) {
    if (isAbortError(error)) await stopScript(comm, pidFile, options.privileged);
    // Best effort: the files are ours and live in /tmp, so a failed rm is harmless.
    await comm.exec(`rm -f ${files}`, {sudo: options.privileged, timeoutMs: 10_000}).catch(() => undefined);
    throw error;
  }
}

/**
 * The guest-side command. The program runs in its own process group (setsid -w, which waits and
 * passes the exit code on) whose id goes to `pidFile`, so Ctrl-C can stop the script and
 * everything it started (apt-get...), whether or not sshd delivers SSH signals (it does not for
 * root logins). Guests without a setsid that knows -w just run the script.
 */
function processGroupCommand(program: string, pidFile: string, files: string, args: readonly string[]): string {
  return [
    `set -- ${args.map((a) => shellQuote(a)).join(' ')}`,
    program,
    `if setsid -w true >/dev/null 2>&1; then setsid -w sh -c 'echo $$ > "$0"; exec "$@"' ${pidFile} "$@"; else "$@"; fi`,
    // Clean up in the same round trip; the caller removes the files itself only after an error.
    'rc=$?',
    `rm -f ${files}`,
    'exit $rc',
  ].join('\n');
}

/** After an abort: TERM the script's process group, KILL it if it is still there after 2 s. */
async function stopScript(comm: Communicator, pidFile: string, privileged: boolean): Promise<void> {
  const script = [
    // An abort right after the start may come before the script wrote its pid: wait a little.
    `for i in 1 2 3 4 5; do [ -s ${pidFile} ] && break; sleep 0.2; done`,
    `pg=$(cat ${pidFile} 2>/dev/null) || exit 0`,
    '[ -n "$pg" ] || exit 0',
    // No "--": dash's kill rejects it; a negative number after the signal is a process group.
    'kill -TERM "-$pg" 2>/dev/null || exit 0',
    'for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 "-$pg" 2>/dev/null || exit 0; sleep 0.2; done',
    'kill -KILL "-$pg" 2>/dev/null || true',
  ].join('\n');
  await comm.exec(script, {sudo: privileged, timeoutMs: 10_000}).catch(() => undefined);
}

async function startsWithShebang(file: string): Promise<boolean> {
  const handle = await open(file, 'r');
  try {
    const head = Buffer.alloc(2);
    const {bytesRead} = await handle.read(head, 0, 2, 0);
    return bytesRead === 2 && head.toString('latin1') === '#!';
  } finally {
    await handle.close();
  }
}

/**
 * Uploads text to a guest file (scripts, generated configs). The upload reads a file, so the text goes to a temporary one; on Linux
 * that file is unlinked as soon as it is open and read through /proc/self/fd, so a box killed
 * with -9 half-way through the upload leaves no script behind in the temp folder.
 */
export async function uploadText(comm: Communicator, text: string, remote: string, signal?: AbortSignal): Promise<void> {
  const localDir = await mkdtemp(path.join(os.tmpdir(), 'box-script-'));
  const local = path.join(localDir, 'script.sh');
  let handle: FileHandle | undefined;
  try {
    await writeFile(local, text, {mode: 0o755});
    handle = await open(local, 'r');
    const viaFd = `/proc/self/fd/${handle.fd}`;
    const unlinked = existsSync(viaFd);
    if (unlinked) await rm(localDir, {recursive: true, force: true});
    await comm.upload(unlinked ? viaFd : local, remote, {signal});
  } finally {
    await handle?.close();
    await rm(localDir, {recursive: true, force: true});
  }
}
