import {setTimeout as sleep} from 'node:timers/promises';
import {throwIfAborted} from '../core/errors.js';
import {run} from '../core/exec.js';
import {toScancodeGroups, type BootAction} from './boot-command.js';

export interface VBoxTypeOptions {
  /** Pause after every key, spread over each batch (VirtualBox queues a batch at once). */
  keyIntervalMs: number;
  signal?: AbortSignal;
  /** VBoxManage binary (tests point it at a recording fake). */
  vboxmanage?: string;
}

/**
 * Types parsed boot-command actions into a VirtualBox VM: one
 * `VBoxManage controlvm VM keyboardputscancode XX XX ...` call per batch of set-1 scancodes
 * (a press is two codes, make and break), pausing for waits and between batches.
 */
export async function typeOverVBoxManage(vm: string, actions: readonly BootAction[], options: VBoxTypeOptions): Promise<number> {
  // ~16 keys a batch: small enough for the guest's keyboard buffer.
  const groups = toScancodeGroups(actions, 32);
  let calls = 0;
  for (const group of groups) {
    throwIfAborted(options.signal);
    if ('waitMs' in group) {
      await sleep(group.waitMs, undefined, {signal: options.signal}).catch(() => throwIfAborted(options.signal));
      continue;
    }
    await run(options.vboxmanage ?? 'VBoxManage', ['controlvm', vm, 'keyboardputscancode', ...group.scancodes], {
      signal: options.signal, errorCode: 'ERR_VBOXMANAGE', hint: 'Is the VM running? `VBoxManage list runningvms`.',
    });
    calls++;
    const keys = Math.ceil(group.scancodes.length / 2);
    if (options.keyIntervalMs > 0) await sleep(options.keyIntervalMs * keys, undefined, {signal: options.signal}).catch(() => throwIfAborted(options.signal));
  }
  return calls;
}
