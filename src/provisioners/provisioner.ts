import type {Communicator} from '../communicators/communicator.js';
import type {Ui} from '../core/ui.js';

export interface ProvisionContext {
  comm: Communicator;
  ui: Ui;
  signal: AbortSignal;
  /** Folder of the Boxfile: relative `path`/`source` values resolve against it. */
  projectRoot: string;
  /** Prefix of streamed guest output lines, e.g. the machine name (default "│"). */
  outputPrefix?: string;
}

export interface Provisioner<C> {
  readonly type: string;
  /** A short label for progress lines ("shell setup.sh", "file conf/ → /etc/app"). */
  describe?(config: C): string;
  provision(ctx: ProvisionContext, config: C): Promise<void>;
}
