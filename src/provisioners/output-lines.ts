import type {OutputStream} from '../communicators/communicator.js';

/**
 * Turns streamed chunks into whole lines (per stream, so stdout and stderr never splice
 * mid-line) and keeps the last `tailSize` lines of both, in arrival order, for error messages.
 */
export class OutputLines {
  private readonly partial: Record<OutputStream, string> = {stdout: '', stderr: ''};
  private readonly last: string[] = [];

  constructor(private readonly onLine: (line: string, stream: OutputStream) => void, private readonly tailSize = 20) {}

  push(stream: OutputStream, text: string): void {
    const lines = (this.partial[stream] + text).split('\n');
    this.partial[stream] = lines.pop()!;
    for (const line of lines) this.emit(line.replace(/\r$/, ''), stream);
  }

  /** Emits what is left of unfinished lines (call when the command ended). */
  flush(): void {
    for (const stream of ['stdout', 'stderr'] as const) {
      if (this.partial[stream]) this.emit(this.partial[stream], stream);
      this.partial[stream] = '';
    }
  }

  tail(): string[] {
    return [...this.last];
  }

  private emit(line: string, stream: OutputStream): void {
    this.last.push(line);
    if (this.last.length > this.tailSize) this.last.shift();
    this.onLine(line, stream);
  }
}
