import {Command, Errors, Flags, type Interfaces} from '@oclif/core';
import {BoxError, ExitCode, InterruptedError, isAbortError, type InterruptSignal} from './errors.js';
import {Ui} from './ui.js';
import {printable} from './printable.js';

export type BaseFlags<T extends typeof Command> = Interfaces.InferredFlags<(typeof BaseCommand)['baseFlags'] & T['flags']>;

/**
 * Every box command extends this. It gives:
 * - `--json` (oclif's enableJsonFlag): the value `run()` returns is the command's JSON contract,
 *   printed as one document on stdout; nothing else is written there.
 * - `this.ui`: progress and messages on stderr, animated only on a TTY.
 * - `this.signal`: aborted on the first Ctrl-C / SIGTERM so services can run their cleanups;
 *   a second signal exits at once. A command that changes nothing sets `exitOnInterrupt`: the
 *   first signal ends it at once (before, an abort nobody listened to let `box validate` run on
 *   to the end under `timeout`).
 * - Uniform errors: message + hint on stderr (or `{"error": {...}}` with --json) and the
 *   documented exit codes 0 ok, 1 failed, 2 usage/config error, 130 interrupted (SIGINT),
 *   143 terminated (SIGTERM).
 *
 * A signal listener only runs while the event loop is free, so no phase may keep the main
 * thread busy for long: loading a large Boxfile, the one CPU-heavy phase whose size the user
 * controls, runs in a worker thread (boxfile/load.ts) and is bounded (boxfile/limits.ts).
 */
export abstract class BaseCommand extends Command {
  static override enableJsonFlag = true;

  static override baseFlags = {
    cwd: Flags.directory({description: 'Run as if box was started in this directory.', helpGroup: 'GLOBAL'}),
  };

  /**
   * Set by commands that change nothing (validate, listings): there is nothing to clean up, so
   * the first Ctrl-C / SIGTERM ends them at once with 130 / 143.
   */
  protected readonly exitOnInterrupt: boolean = false;

  /**
   * Set by commands whose cleanup must finish (`box ci` destroys what a cancelled job made: a CI
   * runner sends SIGTERM and, on a second cancel, often another): a second signal then waits for
   * the cleanup instead of leaving machines half-destroyed. SIGKILL still ends it.
   */
  protected readonly secondSignalWaits: boolean = false;

  protected ui!: Ui;
  private readonly abortController = new AbortController();
  private interrupts = 0;
  private readonly onSignal = (signal: InterruptSignal): void => {
    this.interrupts++;
    const interrupted = new InterruptedError(signal === 'SIGTERM' ? 'Terminated (SIGTERM)' : 'Interrupted', signal);
    if (this.exitOnInterrupt) {
      this.exitNow(interrupted, '\nInterrupted.\n');
    } else if (this.interrupts > 1 && this.secondSignalWaits) {
      process.stderr.write('\nStill cleaning up: box exits once what it made is gone.\n');
    } else if (this.interrupts > 1) {
      this.exitNow(interrupted, '\nInterrupted twice: exiting without cleanup.\n');
    } else {
      process.stderr.write(this.secondSignalWaits ? '\nInterrupted: cleaning up (box exits when that is done)...\n' : '\nInterrupted: cleaning up (press Ctrl-C again to exit at once)...\n');
      this.abortController.abort(interrupted);
    }
  };

  /** Ends the process now with the signal's exit code (and the --json error document). */
  private exitNow(error: InterruptedError, message: string): never {
    process.stderr.write(message);
    // Writes to a pipe or file are synchronous on Linux, so the document is out before exit.
    if (this.jsonEnabled()) this.logJson({error: error.toJSON()});
    process.exit(error.exitCode);
  }

  protected get signal(): AbortSignal {
    return this.abortController.signal;
  }

  /**
   * One JSON document on stdout. oclif's own logJson colours it with a regex tokenizer that
   * overflows the stack on a long string (a 10 MB value printed nothing but a RangeError) and
   * copies the rest of the text per token; plain JSON.stringify is linear.
   */
  override logJson(json: unknown): void {
    process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
  }

  override async init(): Promise<void> {
    await super.init();
    this.ui = new Ui({quiet: this.jsonEnabled()});
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
    // --cwd applies before the command's own parse resolves anything against the working folder;
    // oclif's parser reads it (`--cwd=a=b`, `--cwd DIR`, nothing after `--`). Parse errors are
    // the ones the command would report: this.catch reports them the same way.
    const {flags} = await this.parse();
    if (typeof flags.cwd === 'string') process.chdir(flags.cwd);
  }

  override async finally(error: Error | undefined): Promise<void> {
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
    await super.finally(error);
  }

  override async catch(error: Error & {exitCode?: number; oclif?: {exit?: number}}): Promise<never> {
    const {signal} = this.abortController;
    const boxError = toBoxError(error, signal.aborted ? signal.reason as InterruptedError : undefined);
    process.exitCode = boxError.exitCode;
    if (this.jsonEnabled()) {
      // Handed to the kernel before oclif exits the process: a pipe takes 64 KiB at a time, and
      // a long document (thousands of Boxfile errors) was cut there.
      await new Promise<void>((resolve) => process.stdout.write(`${JSON.stringify({...boxError.partialResult, error: boxError.toJSON()}, null, 2)}\n`, () => resolve()));
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

/**
 * Maps anything thrown to a BoxError with the right exit code. `interrupted` is the signal's
 * error when the command was interrupted: an abort thrown deep in a service then reports the
 * signal that came (143 for SIGTERM), and any other failure after it counts as the interrupt.
 */
export function toBoxError(error: unknown, interrupted?: InterruptedError): BoxError {
  if (interrupted && (isAbortError(error) || !(error instanceof BoxError))) return interrupted;
  if (error instanceof BoxError) return error;
  if (isAbortError(error)) return new InterruptedError();
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
