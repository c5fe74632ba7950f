import type {Communicator, SshInfo} from '../communicators/communicator.js';
import type {BoxfileProvisionerPlugin} from '../boxfile/schema.js';
import type {Ui} from '../core/ui.js';

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
  ui: Ui;
  signal: AbortSignal;
  /** Folder of the Boxfile: relative `path`/`source` values resolve against it. */
  projectRoot: string;
  /** Prefix of streamed guest output lines, e.g. the machine name (default "│"). */
  outputPrefix?: string;
}

export interface Provisioner<C> {
  readonly type: string;
  /**
   * Its Boxfile entry (`type: z.literal(TYPE)` plus its keys) and host-path resolution. The
   * built-ins' schemas live in boxfile/schema.ts; a plug-in's is added to the Boxfile here.
   */
  readonly boxfile?: Omit<BoxfileProvisionerPlugin, 'type'>;
  /** A short label for progress lines ("shell setup.sh", "file conf/ → /etc/app"). */
  describe?(config: C): string;
  provision(ctx: ProvisionContext, config: C): Promise<void>;
}
