import {open} from 'node:fs/promises';
import type {StampedLine} from './boot-phases.js';

/** How often the serial log is read: phases are stamped to within this. */
const POLL_MS = 100;
/** A console that floods (a looping guest) stops being stamped beyond this; waiting is unaffected. */
const MAX_BYTES = 4 * 1024 * 1024;

/**
 * Follows a guest's serial log (QEMU's `-serial file:`) while box waits for the guest, and
 * stamps each complete line with the time the host saw it. Cheap (one read of the new bytes
 * every 100 ms) and silent on errors: a missing or unreadable log gives no lines.
 */
export class SerialWatch {
  readonly lines: StampedLine[] = [];
  private offset = 0;
  private partial = '';
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> = Promise.resolve();

  constructor(private readonly file: string) {}

  start(): this {
    this.timer ??= setInterval(() => { void this.poll(); }, POLL_MS);
    this.timer.unref();
    return this;
  }

  /** Reads what is new now (also used before a decision that depends on the log). */
  poll(): Promise<void> {
    this.reading = this.reading.then(() => this.readNew()).catch(() => undefined);
    return this.reading;
  }

  /** Stops following, after one last read. */
  async stop(): Promise<StampedLine[]> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.poll();
    return this.lines;
  }

  private async readNew(): Promise<void> {
    if (this.offset >= MAX_BYTES) return;
    const handle = await open(this.file, 'r');
    try {
      const {size} = await handle.stat();
      if (size < this.offset) { this.offset = 0; this.partial = ''; } // a new boot truncated it
      if (size === this.offset) return;
      const length = Math.min(size, MAX_BYTES) - this.offset;
      const buffer = Buffer.alloc(length);
      const {bytesRead} = await handle.read(buffer, 0, length, this.offset);
      this.offset += bytesRead;
      const now = Date.now();
      const parts = (this.partial + buffer.subarray(0, bytesRead).toString('utf8')).split('\n');
      this.partial = parts.pop() ?? '';
      for (const text of parts) this.lines.push({at: now, text});
    } finally {
      await handle.close();
    }
  }
}
