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
  /** `box up NEW --from SOURCE[@SNAPSHOT]`: the new machine starts from SOURCE's disk state (a first up only). */
  cloneFrom?: CloneSource;
}

/** Where a clone's disk comes from: another machine of the project, at its current disk or an internal snapshot. */
export interface CloneSource {
  machine: string;
  /** The source machine's folder (its state, disk and key live there). */
  dir: string;
  snapshot?: string;
}

/** `box package`: what to write, and what came out. */
export interface PackageMachineOptions {
  outputPath: string;
}

export interface PackagedMachine {
  /** The Vagrant provider named in the box's metadata.json (libvirt, aws...). */
  provider: string;
  path: string;
  sha256: string;
  size: number;
  /** What the box's metadata.json says (format, virtual_size, amis...). */
  metadata: Record<string, unknown>;
  /** The machine was running and box halted it to package a consistent disk. */
  halted: boolean;
}

/**
 * A target (Vagrant provider / Lima driver). Services call these; providers never print
 * directly except through ctx.ui. `up` creates when absent and starts when stopped, and
 * returns once SSH answers. `destroy` is idempotent and safe on half-created machines.
 */
/** How a halt brought the machine down, reported by `box halt --json`. */
export type StoppedBy = 'acpi' | 'ssh-poweroff' | 'kill' | 'stop-instances' | 'force-stop-instances';

export interface Provider {
  readonly name: string;
  /** Host tools present and usable? Throws a BoxError with an install hint otherwise. */
  verify(ctx: MachineContext): Promise<void>;
  /** `timings`: milliseconds per stage (optional; shown in `box up --json` and used by benches). */
  up(ctx: MachineContext): Promise<{created: boolean; timings?: Record<string, number>}>;
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
  /** Optional (`box package`): a Vagrant box of the machine's disk (qemu) or an AMI of it (aws). */
  package?(ctx: MachineContext, options: PackageMachineOptions): Promise<PackagedMachine>;
  /** Optional: `up` honours `ctx.cloneFrom` (a new machine from another's disk state). */
  readonly clones?: boolean;
}
