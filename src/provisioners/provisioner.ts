import type {Communicator, SshInfo} from '../communicators/communicator.js';
import type {BoxfileProvisionerPlugin} from '../boxfile/schema.js';
import type {Ui} from '../core/ui.js';

/** What a provisioner knows of the project around its machine(s). */
export interface ProjectFacts {
  /** The project's name (Boxfile `name`, else its folder). */
  name: string;
  /** The environment overlay chosen with --env, if any. */
  environment?: string;
}

export interface ProvisionContext {
  /** Runs commands and uploads in the guest (in-guest provisioners: shell, file). */
  comm: Communicator;
  /**
   * Where the guest's SSH server answers and how to log in: for provisioners that drive the
   * guest from the host with their own tool (ansible, test-kitchen-style verifiers).
   */
  ssh: SshInfo;
  /** The machine's name in the Boxfile (an inventory host name for host-side tools). */
  machine: string;
  /** Its address on the project's private network (`networks: private`), when it has one. */
  privateIp?: string;
  /** The project (inventory groups per environment). Absent in builds. */
  project?: ProjectFacts;
  ui: Ui;
  signal: AbortSignal;
  /** Folder of the Boxfile: relative `path`/`source` values resolve against it. */
  projectRoot: string;
  /** Prefix of streamed guest output lines, e.g. the machine name (default "│"). */
  outputPrefix?: string;
}

/** One machine as a project-wide provisioner sees it: how to reach it, what it is. */
export interface ProjectMachine {
  name: string;
  ssh: SshInfo;
  privateIp?: string;
}

/**
 * The context of a provisioner that runs once for several machines (host-side ansible): every
 * running machine of the project (an inventory names them all, so a play can read the others'
 * facts), and the ones this run is for (`targets`, the machines that list the provisioner and
 * came up; a play outside them is limited away).
 */
export interface ProjectProvisionContext {
  project: ProjectFacts;
  machines: ProjectMachine[];
  targets: string[];
  ui: Ui;
  signal: AbortSignal;
  projectRoot: string;
  outputPrefix?: string;
}

export interface Provisioner<C> {
  readonly type: string;
  /**
   * Its Boxfile entry (`type: z.literal(TYPE)` plus its keys) and host-path resolution. The
   * built-ins' schemas live in boxfile/schema.ts; a plug-in's is added to the Boxfile here
   * (with the keys every provisioner takes, `name` and `run`).
   */
  readonly boxfile?: Omit<BoxfileProvisionerPlugin, 'type'>;
  /** A short label for progress lines ("shell setup.sh", "file conf/ → /etc/app"). */
  describe?(config: C): string;
  /**
   * 'project': the same entry (same settings) on several machines runs ONCE for all of them,
   * after every machine of the command is up and has run its own provisioners (`provisionProject`).
   * Default 'machine': `provision` runs on each machine in turn.
   */
  readonly scope?: 'machine' | 'project';
  provision(ctx: ProvisionContext, config: C): Promise<void | ProvisionOutcome>;
  /** The project-wide run (scope 'project'). */
  provisionProject?(ctx: ProjectProvisionContext, config: C): Promise<void | ProvisionOutcome>;
}

/** What a provisioner reports besides success (for --json): ansible's recap per host... */
export interface ProvisionOutcome {
  details?: Record<string, unknown>;
}

/** A project-wide provisioner run for one machine on its own (its `provision`). */
export function projectContextOf(ctx: ProvisionContext): ProjectProvisionContext {
  return {
    project: ctx.project ?? {name: ctx.machine},
    machines: [{name: ctx.machine, ssh: ctx.ssh, ...(ctx.privateIp ? {privateIp: ctx.privateIp} : {})}],
    targets: [ctx.machine],
    ui: ctx.ui,
    signal: ctx.signal,
    projectRoot: ctx.projectRoot,
    outputPrefix: ctx.outputPrefix,
  };
}
