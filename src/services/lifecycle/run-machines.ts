import pLimit from 'p-limit';
import {toBoxError} from '../../core/base-command.js';
import {BoxError, InterruptedError} from '../../core/errors.js';
import type {MachineHandle} from './machines.js';

/** How a lifecycle command spreads its machines over time. */
export interface ConcurrencyOptions {
  /** How many machines work at once; undefined: every machine whose dependencies allow it. */
  parallel?: number;
}

/**
 * `up`, `provision` and `reload` start a machine once the machines it `depends_on` are done;
 * `halt` and `destroy` go the other way (web stops before the db it uses).
 */
export type MachineOrder = 'dependencies-first' | 'dependents-first';

export type MachineOutcome<R> =
  | {handle: MachineHandle; ok: true; value: R}
  | {handle: MachineHandle; ok: false; error: unknown};

/** A machine's entry in a command's result when it failed (next to the others' results). */
export interface FailedMachine {
  name: string;
  target: string;
  error: Record<string, unknown>;
}

/**
 * Runs `work` for every machine, at most `parallel` at once, in the order `depends_on` asks
 * (only among the selected machines: `box up web` does not start db). Each machine's failure is
 * its own: the others go on, except that a machine whose dependency failed (dependencies-first)
 * is not started. After Ctrl-C no machine starts, and the running ones clean up what they made
 * through their own signal handling. While several machines can run at once, each gets a Ui
 * whose lines start with its name. Outcomes come back in the handles' order.
 */
export async function runMachines<R>(
  handles: MachineHandle[],
  options: ConcurrencyOptions & {order: MachineOrder; signal: AbortSignal},
  work: (handle: MachineHandle) => Promise<R>,
): Promise<Array<MachineOutcome<R>>> {
  const parallel = options.parallel ?? handles.length;
  const limit = pLimit(Math.max(1, parallel));
  const shared = parallel > 1 && handles.length > 1;
  const width = Math.max(...handles.map((h) => h.machine.name.length));
  const selected = new Map(handles.map((h) => [h.machine.name, h]));
  const before = (handle: MachineHandle): string[] => options.order === 'dependencies-first'
    ? (handle.machine.dependsOn ?? []).filter((name) => selected.has(name))
    : handles.filter((h) => (h.machine.dependsOn ?? []).includes(handle.machine.name)).map((h) => h.machine.name);

  const running = new Map<string, Promise<MachineOutcome<R>>>();
  const start = (handle: MachineHandle): Promise<MachineOutcome<R>> => {
    const known = running.get(handle.machine.name);
    if (known) return known;
    const own = shared ? {...handle, ctx: {...handle.ctx, ui: handle.ctx.ui.forMachine(handle.machine.name, width)}} : handle;
    const outcome = (async (): Promise<MachineOutcome<R>> => {
      // The Boxfile's checks refuse cycles, so this wait always ends.
      const waited = await Promise.all(before(handle).map((name) => start(selected.get(name)!)));
      const failed = waited.filter((o) => !o.ok).map((o) => o.handle.machine.name);
      if (failed.length > 0 && options.order === 'dependencies-first') {
        return {handle, ok: false, error: new BoxError('ERR_DEPENDENCY_FAILED', `${handle.machine.name} was not started: it depends on ${failed.join(', ')}, which failed.`, {
          hint: `Fix ${failed.join(', ')} first, then run the command again.`,
        })};
      }
      return limit(async () => {
        if (options.signal.aborted) return {handle, ok: false as const, error: new InterruptedError()};
        try {
          return {handle, ok: true as const, value: await work(own)};
        } catch (error) {
          return {handle, ok: false as const, error};
        }
      });
    })();
    running.set(handle.machine.name, outcome);
    return outcome;
  };
  return Promise.all(handles.map(start));
}

/**
 * The result of a command over several machines: the values when every machine succeeded.
 * Otherwise it throws: the interruption after Ctrl-C, the machine's own error when one failed,
 * or ERR_MACHINES_FAILED naming each; always carrying every machine's entry (`toEntry` of a
 * success, the error of a failure) for the --json document.
 */
export function settleMachines<R, E>(outcomes: Array<MachineOutcome<R>>, signal: AbortSignal, toEntry: (value: R) => E): E[] {
  const entries = outcomes.map((o) => o.ok ? toEntry(o.value) : failedEntry(o.handle, o.error));
  const failures = outcomes.filter((o): o is Extract<MachineOutcome<R>, {ok: false}> => !o.ok);
  if (failures.length === 0) return entries as E[];
  // One machine: its error alone, as before there were several.
  const partial = outcomes.length > 1 ? {machines: entries} : undefined;
  if (signal.aborted) throw withPartialResult(signal.reason instanceof InterruptedError ? signal.reason : new InterruptedError(), partial);
  if (failures.length === 1) throw withPartialResult(failures[0]!.error, partial);
  const codes = new Set(failures.map((f) => f.error instanceof BoxError ? f.error.exitCode : 1));
  const list = failures.map((f) => `${f.handle.machine.name}: ${f.error instanceof Error ? f.error.message : String(f.error)}`).join('; ');
  throw withPartialResult(new BoxError('ERR_MACHINES_FAILED', `${failures.length} of ${outcomes.length} machines failed: ${list}`, {
    exitCode: codes.size === 1 ? [...codes][0] : 1,
    hint: `\`box status\` shows where each machine is; run the command again for the failed ones (${failures.map((f) => f.handle.machine.name).join(' ')}).`,
    details: {failed: failures.map((f) => f.handle.machine.name)},
  }), partial);
}

function failedEntry(handle: MachineHandle, error: unknown): FailedMachine {
  return {name: handle.machine.name, target: handle.machine.target, error: toBoxError(error).toJSON()};
}

/** Attaches what the other machines did to a failure, for the --json document. */
function withPartialResult(error: unknown, partial: Record<string, unknown> | undefined): unknown {
  if (partial && error instanceof BoxError) error.partialResult = partial;
  return error;
}
