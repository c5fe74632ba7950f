import readline from 'node:readline';
import {errorMessage, isAbortError} from '../core/errors.js';
import type {Step} from '../core/steps.js';
import type {Ui} from '../core/ui.js';

/** `box build --on-error`: clean up (default), keep everything (abort), or ask at the failure. */
export type OnError = 'cleanup' | 'abort' | 'ask';
export type OnErrorChoice = 'cleanup' | 'abort';
export type AskOnError = (step: string, error: unknown) => Promise<OnErrorChoice>;

/** What a build's state carries so that 'ask' is settled once, at the first failure. */
export interface OnErrorHolder {
  onError: OnError;
  askOnError?: AskOnError;
}

/**
 * Packer's `-on-error=ask`: the question goes to the terminal (stderr), the answer comes from
 * stdin. Without a terminal (CI, pipes) there is nobody to ask: clean up, and say so.
 */
export function terminalAsk(ui: Ui, io: {input?: NodeJS.ReadableStream; output?: NodeJS.WritableStream; interactive?: boolean; signal?: AbortSignal} = {}): AskOnError {
  const input = io.input ?? process.stdin;
  const output = io.output ?? process.stderr;
  const interactive = io.interactive ?? (Boolean(process.stdin.isTTY) && Boolean(process.stderr.isTTY));
  return async (step, error) => {
    if (!interactive) {
      ui.warn('--on-error ask needs a terminal to ask on: cleaning up.');
      return 'cleanup';
    }
    const rl = readline.createInterface({input, terminal: false});
    const lines = rl[Symbol.asyncIterator]();
    // Ctrl-C (the command's abort signal) or a closed stdin at the prompt: the safe answer is cleanup.
    const stopped = new Promise<'stopped'>((resolve) => {
      if (io.signal?.aborted) resolve('stopped');
      io.signal?.addEventListener('abort', () => resolve('stopped'), {once: true});
    });
    try {
      output.write(`\nStep ${step} failed: ${errorMessage(error)}\n`);
      for (;;) {
        output.write('[c] clean up and exit, [a] abort: keep the VM and work files for debugging? [c/a] ');
        const next = await Promise.race([lines.next(), stopped]);
        if (next === 'stopped' || next.done) return 'cleanup';
        const choice = String(next.value).trim().toLowerCase();
        if (choice === '' || choice === 'c' || choice === 'cleanup') return 'cleanup';
        if (choice === 'a' || choice === 'abort') return 'abort';
      }
    } finally {
      rl.close();
    }
  };
}

/** Turns 'ask' into the user's answer (once); a no-op for cleanup and abort. */
export async function settleOnError(holder: OnErrorHolder, step: string, error: unknown): Promise<void> {
  if (holder.onError !== 'ask') return;
  holder.onError = holder.askOnError ? await holder.askOnError(step, error) : 'cleanup';
}

/**
 * Wraps steps so that a failure settles 'ask' before anything reacts to it (the step's own
 * keep-the-VM logic and the runner's cleanups both read the answer). Ctrl-C never asks.
 */
export function askingSteps<S extends OnErrorHolder>(steps: ReadonlyArray<Step<S>>): Array<Step<S>> {
  return steps.map((step) => ({
    ...step,
    async run(state: S, signal: AbortSignal) {
      try {
        await step.run(state, signal);
      } catch (error) {
        if (!signal.aborted && !isAbortError(error)) await settleOnError(state, step.name, error);
        throw error;
      }
    },
  }));
}
