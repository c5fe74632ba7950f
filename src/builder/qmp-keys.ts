import {setTimeout as sleep} from 'node:timers/promises';
import {throwIfAborted} from '../core/errors.js';
import type {BootAction} from './boot-command.js';

export interface TypeOptions {
  /** Pause after every key; guests under TCG drop keys typed faster than they poll. */
  keyIntervalMs: number;
  signal?: AbortSignal;
  onAction?: (action: BootAction, index: number) => void;
}

/**
 * Types parsed boot-command actions: presses through `send-key` (which presses the listed
 * keys in order and releases them in reverse), held modifiers through `input-send-event`.
 */
export async function typeOverQmp(qmp: {execute(command: string, args?: Record<string, unknown>): Promise<unknown>}, actions: readonly BootAction[], options: TypeOptions): Promise<void> {
  for (const [index, action] of actions.entries()) {
    throwIfAborted(options.signal);
    options.onAction?.(action, index);
    if (action.kind === 'wait') {
      await sleep(action.ms, undefined, {signal: options.signal}).catch(() => throwIfAborted(options.signal));
      continue;
    }
    if (action.kind === 'hold') {
      await qmp.execute('input-send-event', {events: [{type: 'key', data: {down: action.down, key: {type: 'qcode', data: action.qcode}}}]});
    } else {
      const keys = [...action.modifiers, action.qcode].map((data) => ({type: 'qcode', data}));
      await qmp.execute('send-key', {keys, 'hold-time': Math.max(10, Math.min(100, options.keyIntervalMs))});
    }
    if (options.keyIntervalMs > 0) await sleep(options.keyIntervalMs, undefined, {signal: options.signal}).catch(() => throwIfAborted(options.signal));
  }
}
