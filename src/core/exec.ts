import type {Options, Result, ResultPromise} from 'execa';
import {BoxError, InterruptedError} from './errors.js';

/**
 * execa, loaded when box first runs a tool: it is about a hundred modules, and commands that run
 * none (`box status` of a machine that is not created, `box validate`, `--help`) never pay for it.
 */
export async function loadExeca(): Promise<typeof import('execa')['execa']> {
  return (await import('execa')).execa;
}

/** Process groups of helpers started by spawnInOwnGroup that are still running. */
const ownGroups = new Set<number>();
let exitHookInstalled = false;

/**
 * Starts a helper that box signals itself in its own process group (and session), as Packer
 * does for its builders. A Ctrl-C in a terminal goes to the terminal's foreground group: box
 * only, which then stops or awaits the helper as its cleanup needs and reports "Interrupted"
 * (exit 130). In box's group the helper got the same SIGINT and died on its own, and box
 * reported that as the helper's failure (QEMU "killed with SIGINT", a qemu-img error...).
 * If box exits while the helper runs (a second Ctrl-C exits at once), the group gets SIGTERM.
 * The child comes wrapped (`{child}`): awaiting a bare execa child would wait for its end.
 */
export async function spawnInOwnGroup(file: string, args: readonly string[], options: Options = {}): Promise<{child: ResultPromise}> {
  const execa = await loadExeca();
  const child = execa(file, args, {...options, detached: true, cleanup: false});
  const pid = child.pid;
  if (pid !== undefined) {
    ownGroups.add(pid);
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.on('exit', () => {
        for (const group of ownGroups) {
          try {
            process.kill(-group, 'SIGTERM');
          } catch {
            // already gone
          }
        }
      });
    }
    const forget = () => ownGroups.delete(pid);
    child.then(forget, forget);
  }
  return {child: child as ResultPromise};
}

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string>;
  input?: string;
  signal?: AbortSignal;
  timeoutMs?: number;
  /** Error code used when the command fails (ERR_QEMU_IMG, ERR_VBOXMANAGE...). */
  errorCode?: string;
  hint?: string;
  /** Called with each chunk of stdout as it comes (progress a tool prints); stdout is still returned. */
  onStdout?: (text: string) => void;
}

/**
 * Runs an external tool and returns its stdout. Forces LANG=C so we can parse messages (as
 * Vagrant's VBoxManage driver does); a failure becomes a BoxError quoting the tool's stderr.
 */
export async function run(file: string, args: readonly string[], options: RunOptions = {}): Promise<string> {
  const execaOptions: Options = {
    cwd: options.cwd,
    env: {LANG: 'C', LC_ALL: 'C', ...options.env},
    input: options.input,
    cancelSignal: options.signal,
    timeout: options.timeoutMs,
    reject: false,
    stripFinalNewline: true,
  };
  let result: Result;
  try {
    // A tool box can cancel is box's to signal (see spawnInOwnGroup); one it cannot stays in
    // box's group, so a Ctrl-C still ends it.
    const child = options.signal ? (await spawnInOwnGroup(file, args, execaOptions)).child : (await loadExeca())(file, args, execaOptions);
    if (options.onStdout) child.stdout?.on('data', (chunk: Buffer) => options.onStdout!(chunk.toString('utf8')));
    result = await child;
  } catch (error) {
    throw new BoxError(options.errorCode ?? 'ERR_EXEC', `Could not run ${file}: ${(error as Error).message}`, {hint: options.hint, cause: error});
  }
  if (result.isCanceled || (result.failed && options.signal?.aborted)) {
    throw new InterruptedError(`Interrupted while running ${file}`);
  }
  if ((result as {code?: string}).code === 'ENOENT' || (result.failed && result.exitCode === undefined && /ENOENT/.test(String(result.message)))) {
    throw new BoxError(options.errorCode ?? 'ERR_EXEC', `${file} is not installed or not on PATH.`, {hint: options.hint});
  }
  if (result.failed) {
    const stderr = String(result.stderr ?? '').trim();
    const tail = stderr.split('\n').slice(-10).join('\n');
    const reason = result.timedOut ? `timed out after ${options.timeoutMs} ms` : `exited with code ${result.exitCode}`;
    throw new BoxError(options.errorCode ?? 'ERR_EXEC', `${file} ${args.join(' ')} ${reason}${tail ? `:\n${tail}` : ''}`, {hint: options.hint});
  }
  return String(result.stdout ?? '');
}

/** Like `run` but returns null instead of throwing when the tool is missing or fails. */
export async function tryRun(file: string, args: readonly string[], options: RunOptions = {}): Promise<string | null> {
  try {
    return await run(file, args, options);
  } catch {
    return null;
  }
}

/**
 * Starts a program that must run to its end even when box is interrupted meanwhile (QEMU with
 * -daemonize: stopping it halfway leaves a half-made daemon), in its own process group; never
 * rejects. The caller checks its abort signal afterwards and cleans up what was started.
 */
export async function startInOwnGroup(file: string, args: readonly string[], options: {env?: Record<string, string>; timeoutMs?: number} = {}): Promise<Result> {
  return (await spawnInOwnGroup(file, args, {env: options.env, reject: false, stdin: 'ignore', timeout: options.timeoutMs})).child;
}

export interface StreamingOptions {
  cwd?: string;
  /** Added to the environment box runs with. */
  env?: Record<string, string>;
  signal: AbortSignal;
  onOutput: (stream: 'stdout' | 'stderr', data: string) => void;
}

/**
 * Runs a host tool whose output streams to the user (a hook's command, ansible-playbook), in
 * its own process group with no stdin, and resolves with its exit code. Ctrl-C (`signal`) sends
 * the whole group SIGTERM (the tool and what it started: ssh...) and rejects with
 * InterruptedError; a tool that cannot start (not installed) rejects with `errorCode`.
 */
export async function runStreaming(file: string, args: readonly string[], options: StreamingOptions & {errorCode: string; hint?: string}): Promise<number> {
  if (options.signal.aborted) throw new InterruptedError();
  const {child} = await spawnInOwnGroup(file, args, {cwd: options.cwd, env: options.env, reject: false, stdin: 'ignore', buffer: false});
  const stop = () => {
    try {
      process.kill(-child.pid!, 'SIGTERM');
    } catch {
      // already gone
    }
  };
  options.signal.addEventListener('abort', stop, {once: true});
  // A Ctrl-C while execa was still loading: the listener came too late for it.
  if (options.signal.aborted) stop();
  child.stdout?.on('data', (data: Buffer) => options.onOutput('stdout', String(data)));
  child.stderr?.on('data', (data: Buffer) => options.onOutput('stderr', String(data)));
  const result = await child.finally(() => options.signal.removeEventListener('abort', stop));
  if (options.signal.aborted) throw new InterruptedError();
  if (result.exitCode === undefined) {
    const missing = /ENOENT/.test(String(result.message));
    throw new BoxError(options.errorCode, missing ? `${file} is not installed or not on PATH.` : `Could not run ${file}: ${result.message}`, {hint: options.hint});
  }
  return result.exitCode;
}
