import {execa, type Options, type Result} from 'execa';
import {BoxError, InterruptedError} from './errors.js';

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string>;
  input?: string;
  signal?: AbortSignal;
  timeoutMs?: number;
  /** Error code used when the command fails (ERR_QEMU_IMG, ERR_VBOXMANAGE...). */
  errorCode?: string;
  hint?: string;
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
    result = await execa(file, args, execaOptions);
  } catch (error) {
    throw new BoxError(options.errorCode ?? 'ERR_EXEC', `Could not run ${file}: ${(error as Error).message}`, {hint: options.hint, cause: error});
  }
  if (result.isCanceled) {
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
