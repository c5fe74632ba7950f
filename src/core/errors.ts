/**
 * Typed errors. Every error the user can see carries a stable `code` (ERR_*), an exit code
 * and, where we know one, a suggested next step (`hint`). Commands never print stack traces
 * for these; unexpected errors (bugs) still do, with exit code 1.
 */
export const ExitCode = {
  ok: 0,
  failed: 1,
  usage: 2,
  interrupted: 130,
} as const;

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

/** The user pressed Ctrl-C (or the process got SIGTERM): exit code 130 after cleanups ran. */
export class InterruptedError extends BoxError {
  constructor(message = 'Interrupted') {
    super('ERR_INTERRUPTED', message, {exitCode: ExitCode.interrupted});
    this.name = 'InterruptedError';
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
