import {BoxError, InterruptedError, errorMessage, isAbortError} from './errors.js';
import type {Ui} from './ui.js';

export type StepOutcome = 'succeeded' | 'failed' | 'cancelled';

/**
 * One step of a build or lifecycle action (Packer's multistep). A step records what it created
 * in `state` so that its cleanup is a no-op when creation never happened.
 */
export interface Step<S> {
  readonly name: string;
  /** What the stage line says after the name, from what the earlier steps recorded. */
  detail?(state: S): string;
  run(state: S, signal: AbortSignal): Promise<void>;
  cleanup?(state: S, outcome: StepOutcome): Promise<void>;
}

export interface RunStepsOptions {
  ui: Ui;
  signal: AbortSignal;
  /**
   * `abort` keeps what the failed steps made (for debugging); `cleanup` (default) removes it. A
   * function is asked when a step fails (a build's `--on-error ask` is answered by then).
   */
  onError?: 'cleanup' | 'abort' | (() => 'cleanup' | 'abort');
  /** Called with each step's duration, for benchmarks and --json reports. */
  onStepDone?: (name: string, ms: number) => void;
  /** Called once before the cleanups of a failed or interrupted run (to say what is being undone). */
  onUndo?: (outcome: Exclude<StepOutcome, 'succeeded'>) => void;
  /** Called for each cleanup that failed (after it is reported), so callers keep their records. */
  onCleanupError?: (name: string, error: unknown) => void;
}

/**
 * Runs steps in order. A step is recorded as started before it runs; on success, failure or
 * cancellation the cleanups of all started steps run in reverse order, and a failing cleanup
 * is reported without stopping the others. Throws the first error (or InterruptedError).
 */
export async function runSteps<S>(steps: ReadonlyArray<Step<S>>, state: S, options: RunStepsOptions): Promise<void> {
  const started: Array<Step<S>> = [];
  let outcome: StepOutcome = 'succeeded';
  let failure: unknown;
  for (const step of steps) {
    if (options.signal.aborted) {
      outcome = 'cancelled';
      failure = new InterruptedError();
      break;
    }
    started.push(step);
    options.ui.stage(step.name, step.detail?.(state));
    const t0 = performance.now();
    try {
      await step.run(state, options.signal);
      options.onStepDone?.(step.name, performance.now() - t0);
    } catch (error) {
      outcome = options.signal.aborted || isAbortError(error) ? 'cancelled' : 'failed';
      failure = outcome === 'cancelled' && !(error instanceof BoxError) ? new InterruptedError() : error;
      break;
    }
  }
  // Ctrl-C during the last step, which finished anyway: the user asked to stop, and gets what
  // an interruption gives everywhere else (the cleanups, exit 130), not a result.
  if (outcome === 'succeeded' && options.signal.aborted) {
    outcome = 'cancelled';
    failure = new InterruptedError();
  }
  const onError = typeof options.onError === 'function' ? options.onError() : options.onError;
  if (outcome === 'failed' && onError === 'abort') {
    options.ui.warn('Leaving everything in place for debugging (--on-error abort); nothing was cleaned up.');
    throw failure;
  }
  if (outcome !== 'succeeded') options.onUndo?.(outcome);
  for (const step of started.reverse()) {
    if (!step.cleanup) continue;
    try {
      await step.cleanup(state, outcome);
    } catch (error) {
      options.ui.warn(`cleanup of ${step.name} failed: ${errorMessage(error)}`);
      options.onCleanupError?.(step.name, error);
    }
  }
  if (failure !== undefined) throw failure;
}
