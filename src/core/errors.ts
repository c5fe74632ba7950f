/**
 * Typed errors. Every error the user can see carries a stable `code` (ERR_*), an exit code
 * and, where we know one, a suggested next step (`hint`). Commands never print stack traces
 * for these; unexpected errors (bugs) still do, with exit code 1.
 */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
  /** SIGINT (Ctrl-C): 128 + 2, as shells report it. */
  interrupted: 130,
  /** SIGTERM (`kill`, `timeout`, a CI runner cancelling the job): 128 + 15. */
  terminated: 143,
} as const;

export type InterruptSignal = 'SIGINT' | 'SIGTERM';

/** The exit code of a command ended by this signal (what a shell reports for it). */
export function interruptExitCode(signal: InterruptSignal = 'SIGINT'): number {
  return signal === 'SIGTERM' ? ExitCode.terminated : ExitCode.interrupted;
}

export interface BoxErrorOptions {
  hint?: string;
  exitCode?: number;
  cause?: unknown;
  /** Extra machine-readable facts, included in --json error output. */
  details?: Record<string, unknown>;
}

export class BoxError extends Error {
  readonly code: string;
  readonly hint?: string;
  readonly exitCode: number;
  readonly details?: Record<string, unknown>;
  /**
   * What the command did before it failed (every machine's entry when one of several failed):
   * the --json document carries it next to `error`.
   */
  partialResult?: Record<string, unknown>;

  constructor(code: string, message: string, options: BoxErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : {cause: options.cause});
    this.name = 'BoxError';
    this.code = code;
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? ExitCode.failed;
    this.details = options.details;
  }

  toJSON(): Record<string, unknown> {
    return {code: this.code, message: this.message, hint: this.hint, exitCode: this.exitCode, ...(this.details ? {details: this.details} : {})};
  }
}

/** Bad flags, bad arguments, a Boxfile or template that does not validate: exit code 2. */
export class UsageError extends BoxError {
  constructor(code: string, message: string, options: Omit<BoxErrorOptions, 'exitCode'> = {}) {
    super(code, message, {...options, exitCode: ExitCode.usage});
    this.name = 'UsageError';
  }
}

/**
 * The user pressed Ctrl-C (exit code 130) or the process got SIGTERM (143), after cleanups ran.
 * Code deep in a service throws it without knowing the signal; the command reports the
 * signal it actually received.
 */
export class InterruptedError extends BoxError {
  readonly signal: InterruptSignal;

  constructor(message = 'Interrupted', signal: InterruptSignal = 'SIGINT') {
    super('ERR_INTERRUPTED', message, {exitCode: interruptExitCode(signal), details: {signal}});
    this.name = 'InterruptedError';
    this.signal = signal;
  }
}

export function isAbortError(error: unknown): boolean {
  return error instanceof InterruptedError
    || (error instanceof Error && (error.name === 'AbortError' || (error as {code?: string}).code === 'ABORT_ERR'));
}

/** Throws InterruptedError when the signal has fired; call between long steps. */
export function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw new InterruptedError();
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
