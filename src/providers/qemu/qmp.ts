import net from 'node:net';
import {BoxError} from '../../core/errors.js';

/**
 * A minimal QMP client (QEMU Machine Protocol: JSON lines over a unix socket). It does the
 * greeting + `qmp_capabilities` handshake, then runs commands one at a time; asynchronous
 * events are ignored. Every wait is bounded by `timeoutMs`.
 */
export class QmpClient {
  private buffer = '';
  private waiter?: {resolve: (msg: Record<string, unknown>) => void; reject: (e: Error) => void};
  private closedError?: Error;

  private constructor(private readonly socket: net.Socket, private readonly timeoutMs: number) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    const fail = (error: Error) => {
      this.closedError = error;
      this.waiter?.reject(error);
      this.waiter = undefined;
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('QMP connection closed')));
  }

  static async connect(socketPath: string, timeoutMs = 3000): Promise<QmpClient> {
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.createConnection(socketPath);
      const timer = setTimeout(() => { s.destroy(); reject(new Error(`no answer on ${socketPath} within ${timeoutMs} ms`)); }, timeoutMs);
      s.once('connect', () => { clearTimeout(timer); resolve(s); });
      s.once('error', (e) => { clearTimeout(timer); reject(e); });
    });
    const client = new QmpClient(socket, timeoutMs);
    try {
      const greeting = await client.next();
      if (!('QMP' in greeting)) throw new Error(`unexpected QMP greeting ${JSON.stringify(greeting)}`);
      await client.execute('qmp_capabilities');
    } catch (error) {
      client.close();
      throw error;
    }
    return client;
  }

  /** Runs one command; resolves with its `return` value, throws with QEMU's error description. */
  async execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T> {
    this.socket.write(JSON.stringify(args ? {execute: command, arguments: args} : {execute: command}) + '\n');
    for (;;) {
      const msg = await this.next();
      if ('event' in msg) continue;
      if ('error' in msg) {
        const err = msg.error as {class?: string; desc?: string};
        throw new BoxError('ERR_QMP', `QEMU refused ${command}: ${err.desc ?? err.class}`);
      }
      if ('return' in msg) return msg.return as T;
    }
  }

  /**
   * Runs a job command (QEMU 7.2's `snapshot-save`, `snapshot-load`, `snapshot-delete`) and waits
   * until it concludes, polling `query-jobs`, up to `timeoutMs`. The job's own error comes back
   * as ERR_QMP; a concluded job is dismissed either way (they are not auto-dismissed).
   */
  async runJob(command: string, args: Record<string, unknown> & {'job-id': string}, timeoutMs: number): Promise<void> {
    const id = args['job-id'];
    await this.execute(command, args);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const jobs = await this.execute<Array<{id: string; status: string; error?: string}>>('query-jobs');
      const job = jobs.find((j) => j.id === id);
      if (!job) throw new BoxError('ERR_QMP', `QEMU lost its ${command} job ${id}.`);
      if (job.status === 'concluded') {
        await this.execute('job-dismiss', {id});
        if (job.error) throw new BoxError('ERR_QMP', `QEMU's ${command} failed: ${job.error}`);
        return;
      }
      if (Date.now() > deadline) throw new BoxError('ERR_QMP', `QEMU's ${command} job ${id} did not finish within ${Math.round(timeoutMs / 1000)} s (it is ${job.status}).`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    this.flush();
  }

  private readonly queue: Array<Record<string, unknown>> = [];

  private flush(): void {
    let index: number;
    while ((index = this.buffer.indexOf('\n')) !== -1) {
      const line = this.buffer.slice(0, index).trim();
      this.buffer = this.buffer.slice(index + 1);
      if (!line) continue;
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(line) as Record<string, unknown>;
      } catch {
        continue;
      }
      this.queue.push(msg);
    }
    if (this.waiter && this.queue.length > 0) {
      const {resolve} = this.waiter;
      this.waiter = undefined;
      resolve(this.queue.shift()!);
    }
  }

  private next(): Promise<Record<string, unknown>> {
    if (this.queue.length > 0) return Promise.resolve(this.queue.shift()!);
    if (this.closedError) return Promise.reject(this.closedError);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = undefined;
        reject(new Error(`QEMU did not answer on QMP within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
      this.waiter = {
        resolve: (m) => { clearTimeout(timer); resolve(m); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      };
    });
  }
}

/** Connects, runs one command, disconnects. */
export async function qmpOnce<T = unknown>(socketPath: string, command: string, args?: Record<string, unknown>, timeoutMs = 3000): Promise<T> {
  const client = await QmpClient.connect(socketPath, timeoutMs);
  try {
    return await client.execute<T>(command, args);
  } finally {
    client.close();
  }
}
