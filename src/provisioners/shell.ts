import {randomUUID} from 'node:crypto';
import {existsSync} from 'node:fs';
import {mkdtemp, open, readFile, rm, writeFile, type FileHandle} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {shellProvisionerSchema, type ShellProvisionerConfig} from '../boxfile/schema.js';
import {shellQuote} from '../communicators/ssh/remote-command.js';
import {BoxError, isAbortError, throwIfAborted} from '../core/errors.js';
import {OutputLines} from './output-lines.js';
import type {ProvisionContext, Provisioner} from './provisioner.js';

function label(config: ShellProvisionerConfig): string {
  return config.name ?? (config.path ? path.basename(config.path) : 'inline script');
}

/** The script text: inline lines joined, or the host file (resolved against the project root). */
async function scriptText(ctx: ProvisionContext, config: ShellProvisionerConfig): Promise<string> {
  if (config.inline !== undefined) {
    return (Array.isArray(config.inline) ? config.inline.join('\n') : config.inline) + '\n';
  }

  const file = path.resolve(ctx.projectRoot, config.path!);
  try {
    return await readFile(file, 'utf8');
  } catch {
    throw new BoxError('ERR_PROVISION_SCRIPT_MISSING', `Shell provisioner script ${JSON.stringify(config.path)} not found (looked at ${file})`, {
      hint: 'Paths in the Boxfile\'s provisioners are relative to the folder holding the Boxfile.',
    });
  }
}

/**
 * The guest-side command. The script runs in its own process group (setsid -w, which waits and
 * passes the exit code on) whose id goes to `pidFile`, so Ctrl-C can stop the script and
 * everything it started (apt-get...), whether or not sshd delivers SSH signals (it does not for
 * root logins). Guests without a setsid that knows -w just run the script.
 */
function runCommand(remote: string, pidFile: string, hasShebang: boolean, args: readonly string[]): string {
  return [
    `set -- ${args.map((a) => shellQuote(a)).join(' ')}`,
    hasShebang
      ? `chmod +x ${remote} && set -- ${remote} "$@"`
      : `if command -v bash >/dev/null 2>&1; then set -- bash ${remote} "$@"; else set -- sh ${remote} "$@"; fi`,
    `if setsid -w true >/dev/null 2>&1; then setsid -w sh -c 'echo $$ > "$0"; exec "$@"' ${pidFile} "$@"; else "$@"; fi`,
    // Clean up in the same round trip; the caller removes the files itself only after an error.
    'rc=$?',
    `rm -f ${remote} ${pidFile}`,
    'exit $rc',
  ].join('\n');
}

/** After an abort: TERM the script's process group, KILL it if it is still there after 2 s. */
async function stopScript(ctx: ProvisionContext, pidFile: string, privileged: boolean): Promise<void> {
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
  await ctx.comm.exec(script, {sudo: privileged, timeoutMs: 10_000}).catch(() => undefined);
}

/**
 * Uploads the script text. The upload reads a file, so the text goes to a temporary one; on
 * Linux that file is unlinked as soon as it is open and read through /proc/self/fd, so a box
 * killed with -9 half-way through the upload leaves no script behind in the temp folder.
 */
async function uploadScript(ctx: ProvisionContext, script: string, remote: string): Promise<void> {
  const localDir = await mkdtemp(path.join(os.tmpdir(), 'box-script-'));
  const local = path.join(localDir, 'script.sh');
  let handle: FileHandle | undefined;
  try {
    await writeFile(local, script, {mode: 0o755});
    handle = await open(local, 'r');
    const viaFd = `/proc/self/fd/${handle.fd}`;
    const unlinked = existsSync(viaFd);
    if (unlinked) await rm(localDir, {recursive: true, force: true});
    await ctx.comm.upload(unlinked ? viaFd : local, remote, {signal: ctx.signal});
  } finally {
    await handle?.close();
    await rm(localDir, {recursive: true, force: true});
  }
}

/**
 * Runs a script in the guest the way Vagrant's shell provisioner does: the script is uploaded
 * to /tmp and executed (with sudo unless `privileged: false`), so multi-line scripts, shebangs
 * and `set -e` behave as they would locally. A script without a shebang runs with bash when
 * the guest has it, else sh. Output is streamed line by line; a non-zero exit fails with the
 * exit code and the last lines of output.
 */
export const shellProvisioner: Provisioner<ShellProvisionerConfig> = {
  type: 'shell',
  boxfile: {schema: shellProvisionerSchema},
  describe: (config) => `shell ${label(config)}`,
  async provision(ctx, config) {
    // Scripts written on Windows would fail on "\r" ("command not found"): normalise line ends.
    const script = (await scriptText(ctx, config)).replaceAll('\r\n', '\n');
    throwIfAborted(ctx.signal);
    const remote = `/tmp/box-shell-${randomUUID().slice(0, 8)}.sh`;
    await uploadScript(ctx, script, remote);

    const privileged = config.privileged ?? true;
    const pidFile = remote.replace(/\.sh$/, '.pid');
    const prefix = ctx.outputPrefix ?? '│';
    const lines = new OutputLines((line) => ctx.ui.output(prefix, line));
    let code: number;
    try {
      code = await ctx.comm.exec(runCommand(remote, pidFile, script.startsWith('#!'), config.args ?? []), {
        sudo: privileged,
        env: config.env,
        signal: ctx.signal,
        onOutput: (stream, data) => lines.push(stream, data),
      });
    } catch (error) {
      lines.flush();
      if (isAbortError(error)) await stopScript(ctx, pidFile, privileged);
      // Best effort: the files are ours and live in /tmp, so a failed rm is harmless.
      await ctx.comm.exec(`rm -f ${remote} ${pidFile}`, {sudo: privileged, timeoutMs: 10_000}).catch(() => undefined);
      throw error;
    }

    lines.flush();

    if (code !== 0) {
      const tail = lines.tail();
      throw new BoxError('ERR_PROVISION_FAILED', `Shell provisioner "${label(config)}" exited with code ${code}.${tail.length > 0 ? `\nLast ${tail.length} lines of output:\n${tail.map((l) => `  ${l}`).join('\n')}` : ' It printed nothing.'}`, {
        hint: 'Fix the script, then run `box provision` to run the provisioners again.',
        details: {provisioner: 'shell', name: label(config), exitCode: code, outputTail: tail},
      });
    }
  },
};
