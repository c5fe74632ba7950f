import type {MachineConfig, Project} from '../boxfile/project.js';
import {UsageError} from '../core/errors.js';
import {targetDescriptor, targetDescriptors} from '../providers/registry.js';

/**
 * The target settings checks `box up` runs before creating anything, for every machine of the
 * project at once: `box validate` runs them so it refuses whatever up would (exit 2, the same
 * message with the Boxfile line:col). Each target checks its own machines (only aws has such
 * checks today).
 */
export async function checkTargetSettings(project: Project): Promise<void> {
  checkPrivateNetworks(project, project.machines);
  for (const target of targetDescriptors()) await target.checkSettings?.(project);
}

/**
 * A setting box accepts is a setting box honours: `networks` on a target whose descriptor does
 * not implement the private network (features.privateNetwork) is refused before anything is made.
 */
export function checkPrivateNetworks(project: Project, machines: readonly MachineConfig[]): void {
  const refused = machines.filter((m) => m.networks.length > 0 && !targetDescriptor(m.target).features.privateNetwork);
  if (refused.length === 0) return;
  const targets = [...new Set(refused.map((m) => m.target))];
  throw new UsageError('ERR_NOT_SUPPORTED', `${project.boxfilePath}: networks (a private network) is not supported yet on the ${targets.join(' or ')} target${targets.length > 1 ? 's' : ''} (machine${refused.length > 1 ? 's' : ''} ${refused.map((m) => m.name).join(', ')}).`, {
    hint: 'Use target: qemu for a private network between machines, or remove `networks` from these machines.',
  });
}
