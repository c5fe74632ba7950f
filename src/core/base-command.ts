import {Command, Errors, Flags, type Interfaces} from '@oclif/core';
import {BoxError, ExitCode, InterruptedError, isAbortError} from './errors.js';
import {Ui} from './ui.js';
import {printable} from './printable.js';

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof BaseCommand)['baseFlags'] & T['flags']>;

/**
 * Every box command extends this. It gives:
 * - `--json` (oclif's enableJsonFlag): the value `run()` returns is the command's JSON contract,
 *   printed as one document on stdout; nothing else is written there.
 * - `this.ui`: progress and messages on stderr, animated only on a TTY.
 * - `this.signal`: aborted on the first Ctrl-C / SIGTERM so services can run their cleanups;
 *   a second Ctrl-C exits at once with 130.
 * - Uniform errors: message + hint on stderr (or `{"error": {...}}` with --json) and the
 *   documented exit codes 0 ok, 1 failed, 2 usage/config error, 130 interrupted.
 */
export abstract class BaseCommand extends Command {
  static override enableJsonFlag = true;

  static override baseFlags = {
    cwd: Flags.directory({description: 'Run as if box was started in this directory.', helpGroup: 'GLOBAL'}),
  };

  protected ui!: Ui;
  private readonly abortController = new AbortController();
  private interrupts = 0;
  private readonly onSignal = (): void => {
    this.interrupts++;
    if (this.interrupts > 1) {
      process.stderr.write('\nInterrupted twice: exiting without cleanup.\n');
      process.exit(ExitCode.interrupted);
    }
    process.stderr.write('\nInterrupted: cleaning up (press Ctrl-C again to exit at once)...\n');
    this.abortController.abort(new InterruptedError());
  };

  protected get signal(): AbortSignal {
    return this.abortController.signal;
  }

  override async init(): Promise<void> {
    await super.init();
    this.ui = new Ui({quiet: this.jsonEnabled()});
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
    const cwdIndex = this.argv.findIndex((a) => a === '--cwd' || a.startsWith('--cwd='));
    if (cwdIndex !== -1) {
      const value = this.argv[cwdIndex].includes('=') ? this.argv[cwdIndex].split('=')[1] : this.argv[cwdIndex + 1];
      if (value) process.chdir(value);
    }
  }

  override async finally(error: Error | undefined): Promise<void> {
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
    await super.finally(error);
  }

  override async catch(error: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<never> {
    const boxError = toBoxError(error, this.signal.aborted);
    process.exitCode = boxError.exitCode;
    if (this.jsonEnabled()) {
      this.logJson({error: boxError.toJSON()});
    } else {
      const color = this.ui?.color;
      const prefix = color ? color.red('Error:') : 'Error:';
      // Messages quote names and text from boxes, catalogs and servers: never raw control characters.
      process.stderr.write(`${prefix} ${printable(boxError.message)}\n`);
      if (boxError.hint) process.stderr.write(`${color ? color.dim('Hint:') : 'Hint:'} ${printable(boxError.hint)}\n`);
      if (!(error instanceof BoxError) && !(error instanceof Errors.CLIError) && process.env.BOX_DEBUG) {
        process.stderr.write(`${error.stack}\n`);
      }
    }
    // ExitError is not printed again by oclif's handler; it only sets the exit code.
    throw new Errors.ExitError(boxError.exitCode);
  }
}

/** Maps anything thrown to a BoxError with the right exit code. */
export function toBoxError(error: unknown, aborted = false): BoxError {
  if (error instanceof BoxError) return error;
  if (aborted || isAbortError(error)) return new InterruptedError();
  const err = error as Error & {oclif?: {exit?: number}; code?: string};
  if (err instanceof Errors.CLIError) {
    // oclif's own parse errors (unknown flag, missing argument): usage errors.
    return new BoxError('ERR_USAGE', err.message.replace(/\nSee more help with --help$/, ''), {
      exitCode: err.oclif?.exit === 0 ? 0 : ExitCode.usage,
      hint: 'See `box COMMAND --help`.',
    });
  }
  return new BoxError('ERR_UNEXPECTED', err?.message ?? String(error), {
    hint: 'This looks like a bug in box. Run again with BOX_DEBUG=1 for a stack trace and report it.',
  });
}
