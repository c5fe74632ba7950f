import net from 'node:net';
import {setTimeout as sleep} from 'node:timers/promises';
import {BoxError, throwIfAborted} from '../core/errors.js';
import type {BootAction} from './boot-command.js';

/**
 * A small QMP client (QEMU Machine Protocol: JSON lines over a unix socket), enough to type
 * boot commands and power a build VM off. Commands are sent one at a time; asynchronous
 * events are ignored.
 */
export class QmpKeyboard {
  private buffer = '';
  private waiting: Array<{resolve: (v: unknown) => void; reject: (e: Error) => void}> = [];
  private closed = false;

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.waiting.splice(0)) w.reject(new BoxError('ERR_QMP', 'QEMU closed its QMP socket (did the VM exit?).'));
    });
    socket.on('error', () => undefined);
  }

  /** Connects (retrying while QEMU creates the socket) and negotiates capabilities. */
  static async connect(socketPath: string, options: {timeoutMs?: number; signal?: AbortSignal} = {}): Promise<QmpKeyboard> {
    const deadline = Date.now() + (options.timeoutMs ?? 10_000);
    for (;;) {
      throwIfAborted(options.signal);
      try {
        const socket = await new Promise<net.Socket>((resolve, reject) => {
          const s = net.createConnection(socketPath);
          s.once('connect', () => resolve(s));
          s.once('error', reject);
        });
        const qmp = new QmpKeyboard(socket);
        await qmp.next(); // greeting
        await qmp.execute('qmp_capabilities');
        return qmp;
      } catch (error) {
        if (Date.now() > deadline) {
          throw new BoxError('ERR_QMP', `Could not connect to QEMU's QMP socket ${socketPath}: ${(error as Error).message}`);
        }
        await sleep(100);
      }
    }
  }

  async execute(command: string, args?: Record<string, unknown>): Promise<unknown> {
    if (this.closed) throw new BoxError('ERR_QMP', 'QEMU closed its QMP socket (did the VM exit?).');
    const reply = this.next();
    this.socket.write(JSON.stringify(args ? {execute: command, arguments: args} : {execute: command}) + '\n');
    const message = (await reply) as {return?: unknown; error?: {class: string; desc: string}};
    if (message.error) throw new BoxError('ERR_QMP', `QMP ${command} failed: ${message.error.desc}`);
    return message.return;
  }

  close(): void {
    this.socket.destroy();
  }

  private next(): Promise<unknown> {
    return new Promise((resolve, reject) => this.waiting.push({resolve, reject}));
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let newline: number;
    while ((newline = this.buffer.indexOf('\n')) !== -1) {
      const line = this.buffer.slice(0, newline).trim();
      this.buffer = this.buffer.slice(newline + 1);
      if (!line) continue;
      const message = JSON.parse(line) as Record<string, unknown>;
      if ('event' in message) continue;
      this.waiting.shift()?.resolve(message);
    }
  }
}

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
export async function typeOverQmp(qmp: Pick<QmpKeyboard, 'execute'>, actions: readonly BootAction[], options: TypeOptions): Promise<void> {
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
