import type {BootPhases} from './shared/boot-phases.js';
import type {MachineConfig, Project} from '../boxfile/project.js';
import type {Ui} from '../core/ui.js';
import type {Communicator, SshInfo} from '../communicators/communicator.js';

/** `suspended`: not running, but its RAM and device state are saved; `box up`/`box resume` continue it where it was. */
export type MachineStatus = 'not-created' | 'running' | 'stopped' | 'suspended' | 'broken';

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

/** Milliseconds per stage of an up; `boot` holds the guest's boot phases read from its serial console (qemu). */
export type UpTimings = Record<string, number | BootPhases>;

export interface Provider {
  readonly name: string;
  /** Host tools present and usable? Throws a BoxError with an install hint otherwise. */
  verify(ctx: MachineContext): Promise<void>;
  /** `timings`: milliseconds per stage, and `boot` (the guest's boot phases) where known (optional; shown in `box up --json` and used by benches). */
  /** `resumed`: the machine was suspended and continues from its saved state (no boot). */
  /** `cloudInitAbsent`: the guest said as it booted that it has no cloud-init (box-built guests say so on their console at a first boot), so nobody asks over SSH. */
  up(ctx: MachineContext): Promise<{created: boolean; resumed?: boolean; cloudInitAbsent?: boolean; timings?: UpTimings}>;
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
  /**
   * Optional: saves the running guest's state and stops it (`box suspend`, `halt --suspend`);
   * the next `up` resumes it. Refuses (nothing changed) what it cannot save; a Ctrl-C leaves the
   * machine running or suspended, never between. Targets without it refuse `box suspend`.
   */
  suspend?(ctx: MachineContext): Promise<SuspendOutcome>;
  /** Optional: why `suspend` would refuse this machine (asked of every machine before any is touched). */
  suspendRefusal?(ctx: MachineContext): Promise<Error | undefined>;
  /** Optional: named snapshots of the machine (`box snapshot`); absent: "not supported yet". */
  snapshots?: SnapshotSupport;
  /** Optional (`box package`): a Vagrant box of the machine's disk (qemu, virtualbox) or an AMI of it (aws). */
  package?(ctx: MachineContext, options: PackageMachineOptions): Promise<PackagedMachine>;
  /** Optional: `up` honours `ctx.cloneFrom` (a new machine from another's disk state). */
  readonly clones?: boolean;
}

/** One snapshot of one machine, as `box snapshot list` shows it. */
export interface SnapshotInfo {
  /** The name the user gave (the same on every machine of a `box snapshot save`). */
  name: string;
  /** ISO 8601; absent when the target keeps no date (a VirtualBox snapshot box did not take). */
  createdAt?: string;
  /** Bytes the snapshot itself takes, where the target says (qemu: the saved RAM; aws: EBS full size). */
  sizeBytes?: number;
  /** It holds the running guest's memory too (a restore resumes it), not only its disks. */
  withMemory: boolean;
  /** Target facts (EBS snapshot ids, VirtualBox uuid...). */
  details?: Record<string, unknown>;
}

/** What a restore did: `live` when the guest resumed in the saved state without a boot. */
export interface SnapshotRestoreResult {
  live: boolean;
  /** Said to the user when the restore did less or more than the plain reading (disk only, rebooted). */
  note?: string;
}

/**
 * A target's snapshots. The service checks names (unknown, duplicate) and holds the machine's
 * lock; these do the work and run to their end once started (a Ctrl-C is honoured after them),
 * so no half-made snapshot is ever listed.
 */
export interface SnapshotSupport {
  list(ctx: MachineContext): Promise<SnapshotInfo[]>;
  save(ctx: MachineContext, name: string): Promise<SnapshotInfo>;
  restore(ctx: MachineContext, snapshot: SnapshotInfo): Promise<SnapshotRestoreResult>;
  delete(ctx: MachineContext, snapshot: SnapshotInfo): Promise<void>;
}

/** What a suspend did, for `box suspend --json`. */
export interface SuspendOutcome {
  /** How the state was saved: 'qemu-migrate' (RAM file in the machine folder), 'savestate', 'hibernate'. */
  method: 'qemu-migrate' | 'savestate' | 'hibernate';
  /** Bytes of saved state on the host, where box knows them. */
  stateBytes?: number;
  timings?: Record<string, number>;
}
