import chalk, {Chalk} from 'chalk';
import type {Options as BarOptions, Params as BarParams, SingleBar} from 'cli-progress';
import {lazyRequire} from './lazy-require.js';
import {printable} from './printable.js';
import diagnosticsChannel from 'node:diagnostics_channel';

/**
 * Everything box tells a person goes through Ui, on stderr, so stdout stays clean for --json.
 * Animated progress is drawn only when stderr is a TTY; otherwise stages are plain lines and
 * byte progress prints nothing until its final summary line. `quiet` (used by --json) keeps
 * stage and info lines but never draws. Messages may quote text from boxes, catalogs or
 * servers: their control characters are escaped (guest output through `output` is not).
 */
export interface ProgressUpdate {
  transferred: number;
  total?: number;
}

export interface Progress {
  update(p: ProgressUpdate): void;
  done(summary?: string): void;
}

/**
 * Every stage of every operation (step runner, provider stages) is published on this
 * `node:diagnostics_channel` channel as `{name, detail}` after its line is printed: one
 * observability point for tools and for the fault suite (test/faults), which stops box at a
 * named stage. Publishing costs nothing when nobody subscribes.
 */
export const STAGE_CHANNEL = 'box:stage';
const stageChannel = diagnosticsChannel.channel(STAGE_CHANNEL);

export interface StageMessage {
  name: string;
  detail: string;
}

export class Ui {
  readonly isTty: boolean;
  readonly color: InstanceType<typeof Chalk>;
  private readonly stream: NodeJS.WriteStream;
  /** The byte progress bar on screen, if any: a line printed meanwhile goes above it. */
  private bar: SingleBar | undefined;

  /** Put before every line: the machine's name while several machines work at once. */
  private readonly prefix: string;
  /** Draws byte progress bars (one at a time: never while machines share the terminal). */
  private readonly animate: boolean;

  constructor(options: {stream?: NodeJS.WriteStream; quiet?: boolean; prefix?: string} = {}) {
    this.stream = options.stream ?? process.stderr;
    this.isTty = Boolean(this.stream.isTTY) && !options.quiet && process.env.TERM !== 'dumb';
    this.color = new Chalk({level: this.isTty && !process.env.NO_COLOR ? chalk.level || 1 : 0});
    this.prefix = options.prefix ?? '';
    this.animate = this.isTty && this.prefix === '';
  }

  /**
   * The Ui of one of several machines working at once: every line starts with `name |`
   * (names padded to `width`), and byte progress prints its summary line instead of a bar, as
   * concurrent bars would overwrite each other.
   */
  forMachine(name: string, width = name.length): Ui {
    return new Ui({stream: this.stream, quiet: !this.isTty, prefix: `${this.prefix}${this.color.magenta(name.padEnd(width))} | `});
  }

  /** A stage of a longer operation ("download", "boot", "wait-for-ssh"). */
  stage(name: string, detail = ''): void {
    this.line(`${this.color.cyan('==>')} ${this.color.bold(name)}${detail ? ` ${printable(detail)}` : ''}`);
    if (stageChannel.hasSubscribers) stageChannel.publish({name, detail} satisfies StageMessage);
  }

  info(message: string): void {
    this.line(printable(message));
  }

  success(message: string): void {
    this.line(`${this.color.green('✔')} ${printable(message)}`);
  }

  warn(message: string): void {
    this.line(`${this.color.yellow('warning:')} ${printable(message)}`);
  }

  /** Raw output streamed from a guest or tool, prefixed so users can tell sources apart. */
  output(prefix: string, text: string): void {
    for (const line of text.replace(/\n$/, '').split('\n')) this.line(`${this.color.dim(prefix)} ${line}`);
  }

  line(message: string): void {
    this.clearDraw();
    this.stream.write(this.prefix + message + '\n');
  }

  /**
   * Byte progress with speed and ETA, drawn by cli-progress at most 10 times a second, on a TTY
   * only; `done` replaces it with one summary line (printed on any stream).
   */
  progress(label: string): Progress {
    const started = Date.now();
    let last: ProgressUpdate = {transferred: 0};
    let bar: SingleBar | undefined;
    const text = (options: BarOptions, params: BarParams): string => {
      const shown = `${printable(label)} ${last.total ? `[${cliProgress().Format.BarFormat(params.progress, options)}] ` : ''}${formatProgress(last, (Date.now() - started) / 1000)}`;
      return shown.slice(0, (this.stream.columns ?? 100) - 1);
    };
    return {
      update: (p) => {
        last = p;
        if (!this.animate) return;
        if (!bar) {
          bar = new (quietTimerBar())({stream: this.stream, format: text, fps: 10, barsize: 20, linewrap: true, clearOnComplete: true, hideCursor: false, gracefulExit: false});
          this.bar?.stop();
          this.bar = bar;
          bar.start(p.total ?? 0, p.transferred);
          return;
        }
        if (p.total !== undefined && p.total !== bar.getTotal()) bar.setTotal(p.total);
        bar.update(p.transferred);
      },
      done: (summary) => {
        if (bar) {
          bar.stop();
          if (this.bar === bar) this.bar = undefined;
        }
        const seconds = (Date.now() - started) / 1000;
        this.line(printable(summary ?? `${label} ${formatBytes(last.transferred)} in ${seconds.toFixed(1)} s (${formatBytes(last.transferred / Math.max(seconds, 0.001))}/s)`));
      },
    };
  }

  /** Clears the bar's line; cli-progress draws it again below on its next tick. */
  private clearDraw(): void {
    if (this.bar) this.stream.write('\r\u001B[2K');
  }
}

// cli-progress is loaded when a bar is first drawn: most commands never draw one.
const cliProgress = lazyRequire<typeof import('cli-progress')>('cli-progress');

let barClass: typeof SingleBar | undefined;
/** cli-progress redraws on a timer; an unfinished bar (an error path) must not keep box alive. */
function quietTimerBar(): typeof SingleBar {
  barClass ??= class QuietTimerBar extends cliProgress().SingleBar {
    override render(): void {
      super.render();
      (this as unknown as {timer?: NodeJS.Timeout}).timer?.unref();
    }
  };
  return barClass;
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

export function formatProgress(p: ProgressUpdate, elapsedSeconds: number): string {
  const speed = p.transferred / Math.max(elapsedSeconds, 0.001);
  if (!p.total) return `${formatBytes(p.transferred)} ${formatBytes(speed)}/s`;
  const percent = Math.min(100, (p.transferred / p.total) * 100);
  const eta = speed > 0 ? Math.max(0, (p.total - p.transferred) / speed) : 0;
  return `${percent.toFixed(0).padStart(3)}% ${formatBytes(p.transferred)}/${formatBytes(p.total)} ${formatBytes(speed)}/s ETA ${Math.round(eta)} s`;
}

/** A Ui that writes nowhere, for services called from tests. */
export function silentUi(): Ui {
  const sink = {write: () => true, isTTY: false} as unknown as NodeJS.WriteStream;
  return new Ui({stream: sink});
}
