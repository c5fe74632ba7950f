import type {Communicator} from '../communicators/communicator.js';
import type {Ui} from '../core/ui.js';

export interface ProvisionContext {
  comm: Communicator;
  ui: Ui;
  signal: AbortSignal;
  /** Folder of the Boxfile: relative `path`/`source` values resolve against it. */
  projectRoot: string;
}

export interface Provisioner<C> {
  readonly type: string;
  provision(ctx: ProvisionContext, config: C): Promise<void>;
}
