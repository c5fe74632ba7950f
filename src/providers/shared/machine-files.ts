import {readdir, rm} from 'node:fs/promises';
import path from 'node:path';
import {machineFiles} from '../../core/paths.js';
import {unindexMachine} from '../../core/state.js';
import {runSteps, type Step} from '../../core/steps.js';
import type {MachineContext} from '../provider.js';

/**
 * Empties a machine folder except the lock held by the running command (the service removes
 * the folder itself once the lock is released).
 */
export async function removeMachineFiles(dir: string): Promise<void> {
  for (const entry of await readdir(dir).catch(() => [] as string[])) {
    if (entry === `${machineFiles.lock}.lock`) continue;
    await rm(path.join(dir, entry), {recursive: true, force: true});
  }
}

/** Errors of a first up whose create steps already undid what they made (or said what they could not). */
const undone = new WeakSet<object>();

/**
 * True when `error` comes from create steps that already ran their cleanups: the only recovery
 * layer of a failed first up, so the up service must not destroy the machine again on top.
 */
export function createStepsUndone(error: unknown): boolean {
  return typeof error === 'object' && error !== null && undone.has(error);
}

/**
 * Runs the steps that create a new machine. If they fail or are interrupted, their cleanups
 * remove what was made and the machine's record goes too, so a failed first up leaves nothing
 * behind; unless a cleanup failed (the record is then the only trail `box destroy` has), or
 * `--no-destroy-on-error` asked to keep a failed machine for debugging (Ctrl-C always cleans).
 */
export async function runCreateSteps<S>(ctx: MachineContext, steps: ReadonlyArray<Step<S>>, state: S, what: string): Promise<void> {
  const name = ctx.machine.name;
  const uncleaned: string[] = [];
  try {
    await runSteps(steps, state, {
      ui: ctx.ui, signal: ctx.signal, onError: ctx.keepOnError ? 'abort' : 'cleanup', onCleanupError: (step) => uncleaned.push(step),
      // Vagrant's rule, said before the cleanups run (Ctrl-C cleans even with --no-destroy-on-error).
      onUndo: (outcome) => ctx.ui.warn(outcome === 'cancelled'
        ? `Interrupted: destroying the new machine ${name}.`
        : `Failed: destroying the new machine ${name} (keep it with --no-destroy-on-error).`),
    });
  } catch (error) {
    if (ctx.keepOnError && !ctx.signal.aborted) throw error;
    if (typeof error === 'object' && error !== null) undone.add(error);
    if (uncleaned.length > 0) {
      ctx.ui.warn(`${ctx.machine.name}: could not remove ${what} (${uncleaned.join(', ')}); it stays recorded in .box/. Run \`box destroy ${ctx.machine.name}\` to retry.`);
      throw error;
    }
    await removeMachineFiles(ctx.dir);
    await unindexMachine(ctx.project.root, ctx.machine.name);
    throw error;
  }
}
