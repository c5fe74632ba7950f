// OWNER: boxfile helper. Signature fixed so other areas can code against it.
import type {MachineConfig, Project} from '../boxfile/project.js';
import type {TargetName} from '../boxfile/schema.js';

export interface LoadProjectOptions {
  /** Where to start looking for a Boxfile (walks up to the filesystem root, like Vagrant). */
  cwd: string;
  /** An explicit Boxfile path (--boxfile / BOX_BOXFILE); no walking up then. */
  boxfile?: string;
  /** Environment overlay to apply (--env). */
  env?: string;
  /** Overrides the target of every machine (--target). */
  target?: TargetName;
}

/** Loads, fills defaults, validates (all errors at once, exit 2) and resolves the project. */
export async function loadProject(_options: LoadProjectOptions): Promise<Project> {
  throw new Error('loadProject: not implemented yet');
}

/** Picks machines by name (all when `names` is empty); unknown names are a usage error with did-you-mean. */
export function selectMachines(_project: Project, _names: string[]): MachineConfig[] {
  throw new Error('selectMachines: not implemented yet');
}
