import {mkdir, readFile, rm} from 'node:fs/promises';
import path from 'node:path';
import type {Communicator, ExecOptions} from '../../src/communicators/communicator.js';
import {BoxError, InterruptedError} from '../../src/core/errors.js';
import {indexMachine, readMachineState, unindexMachine, writeMachineState} from '../../src/core/state.js';
import type {MachineContext, Provider, StatusReport} from '../../src/providers/provider.js';

/**
 * An in-memory provider for the lifecycle services' tests (registered as the virtualbox
 * target). It keeps records as the real providers do, logs when each machine's up, halt and
 * destroy start and end, can hold them until the test releases them (to observe overlap),
 * fail them on purpose, and records what is run in each guest over its communicator.
 */
export class GatedProvider implements Provider {
  readonly name = 'virtualbox' as const;
  running = new Set<string>();
  events: string[] = [];
  active = 0;
  maxActive = 0;
  failing = new Set<string>();
  /** What ran in each guest: the command, its env and the scripts uploaded for it. */
  guest: Array<{machine: string; command: string; env?: Record<string, string>; uploaded: string[]}> = [];
  /** Exit code of guest commands whose uploaded script contains the key. */
  guestExit = new Map<string, number>();
  /** Resolved by the test (or at once when `autoRelease`) to let a machine's work finish. */
  private gates = new Map<string, () => void>();
  autoRelease = true;
  onStart?: (name: string) => void;

  reset(): void {
    Object.assign(this, {events: [], active: 0, maxActive: 0, autoRelease: true, onStart: undefined, guest: []});
    this.failing.clear();
    this.running.clear();
    this.guestExit.clear();
  }

  private async work(op: string, ctx: MachineContext): Promise<void> {
    const name = ctx.machine.name;
    this.events.push(`${op}:start:${name}`);
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    try {
      // A turn of the event loop at least, so other machines get the chance to start meanwhile.
      await new Promise<void>((resolve, reject) => {
        this.gates.set(`${op}:${name}`, resolve);
        if (this.autoRelease) setImmediate(resolve);
        if (ctx.signal.aborted) reject(new InterruptedError());
        ctx.signal.addEventListener('abort', () => reject(new InterruptedError()), {once: true});
        this.onStart?.(name);
      });
      if (this.failing.has(`${op}:${name}`)) throw new BoxError('ERR_TEST_FAIL', `${op} of ${name} failed on purpose`);
    } finally {
      this.active--;
      this.events.push(`${op}:end:${name}`);
    }
  }

  release(op: string, name: string): void {
    this.gates.get(`${op}:${name}`)?.();
  }

  async verify(): Promise<void> {}
  async up(ctx: MachineContext): Promise<{created: boolean}> {
    const existing = await readMachineState(ctx.project.root, ctx.machine.name);
    if (!existing) {
      await mkdir(ctx.dir, {recursive: true});
      await writeMachineState(ctx.project.root, {machine: ctx.machine.name, target: 'virtualbox', createdAt: new Date().toISOString(), provisioned: false, upCompleted: false, provider: {}});
      await indexMachine({project: ctx.project.name, projectRoot: ctx.project.root, machine: ctx.machine.name, target: 'virtualbox'});
    }
    try {
      await this.work('up', ctx);
    } catch (error) {
      // As the real providers' create steps: a failed first up removes what it made.
      if (!existing) {
        await unindexMachine(ctx.project.root, ctx.machine.name);
        await rm(path.join(ctx.dir, 'state.json'), {force: true});
      }
      throw error;
    }
    this.running.add(ctx.machine.name);
    return {created: !existing};
  }
  async halt(ctx: MachineContext): Promise<void> {
    await this.work('halt', ctx);
    this.running.delete(ctx.machine.name);
  }
  async destroy(ctx: MachineContext): Promise<void> {
    await this.work('destroy', ctx);
    this.running.delete(ctx.machine.name);
    await unindexMachine(ctx.project.root, ctx.machine.name);
    await rm(path.join(ctx.dir, 'state.json'), {force: true});
  }
  async status(ctx: MachineContext): Promise<StatusReport> {
    if (this.running.has(ctx.machine.name)) return {status: 'running'};
    return {status: (await readMachineState(ctx.project.root, ctx.machine.name)) ? 'stopped' : 'not-created'};
  }
  async sshInfo(ctx: MachineContext) { return {host: '127.0.0.1', port: 2200 + ctx.project.machines.findIndex((m) => m.name === ctx.machine.name), username: 'vagrant', privateKeyPath: '/dev/null'}; }
  async communicator(ctx: MachineContext): Promise<Communicator> {
    const machine = ctx.machine.name;
    const uploaded: string[] = [];
    return {
      waitForReady: async () => {},
      exec: async (command: string, options?: ExecOptions) => {
        this.guest.push({machine, command, env: options?.env, uploaded: [...uploaded]});
        const failing = [...this.guestExit].find(([key]) => uploaded.some((text) => text.includes(key)));
        uploaded.length = 0;
        return failing?.[1] ?? 0;
      },
      upload: async (local: string) => { uploaded.push(await readFile(local, 'utf8')); },
      close: async () => {},
    };
  }
}
