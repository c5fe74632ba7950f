import type {BootPhases} from './shared/boot-phases.js';
import type {MachineConfig, Project} from '../boxfile/project.js';
import type {Ui} from '../core/ui.js';
import type {Communicator, SshInfo} from '../communicators/communicator.js';

export type MachineStatus = 'not-created' | 'running' | 'stopped' | 'broken';

export interface StatusReport {
  status: MachineStatus;
  /** Why the machine is broken, and the command that repairs it. */
  reason?: string;
  repair?: string;
  /** Provider facts worth showing (pid, ssh port, instance id, accelerator...). */
  details?: Record<string, unknown>;
}

export type {SshInfo} from '../communicators/communicator.js';

/** What a provider gets to work on one machine. */
export interface MachineContext {
  project: Project;
  machine: MachineConfig;
  /** `.box/machines/<name>/` */
  dir: string;
  ui: Ui;
  signal: AbortSignal;
  /** `up --no-destroy-on-error`: a failed first up keeps what it made, for debugging. */
  keepOnError?: boolean;
}

/**
 * A target (Vagrant provider / Lima driver). Services call these; providers never print
 * directly except through ctx.ui. `up` creates when absent and starts when stopped, and
 * returns once SSH answers. `destroy` is idempotent and safe on half-created machines.
 */
/** How a halt brought the machine down, reported by `box halt --json`. */
export type StoppedBy = 'acpi' | 'ssh-poweroff' | 'kill' | 'stop-instances' | 'force-stop-instances';

/** Milliseconds per stage of an up; `boot` holds the guest's boot phases read from its serial console (qemu). */
export type UpTimings = Record<string, number | BootPhases>;

export interface Provider {
  readonly name: string;
  /** Host tools present and usable? Throws a BoxError with an install hint otherwise. */
  verify(ctx: MachineContext): Promise<void>;
  /** `timings`: milliseconds per stage, and `boot` (the guest's boot phases) where known (optional; shown in `box up --json` and used by benches). */
  up(ctx: MachineContext): Promise<{created: boolean; timings?: UpTimings}>;
  /** Stops the machine; says how it went down ('acpi', 'ssh-poweroff', 'kill', 'stop-instances', ...), or nothing if it was not running. */
  halt(ctx: MachineContext, options: {force: boolean; timeoutSeconds: number}): Promise<StoppedBy | void>;
  destroy(ctx: MachineContext): Promise<void>;
  status(ctx: MachineContext): Promise<StatusReport>;
  sshInfo(ctx: MachineContext): Promise<SshInfo>;
  /**
   * Optional: how this provider's guests are reached, when it differs from plain SSH to sshInfo
   * (the aws provider routes through a factory that tests replace: moto instances have no SSH).
   */
  communicator?(ctx: MachineContext, info: SshInfo): Promise<Communicator>;
}
