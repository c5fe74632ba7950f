import type {MachineConfig, Project} from '../boxfile/project.js';
import {throwIfIssues, type BoxfileIssue} from '../boxfile/issues.js';
import {machineSettingIssue} from '../boxfile/setting-origin.js';
import {UsageError} from '../core/errors.js';
import {targetDescriptor, targetDescriptors} from '../providers/registry.js';

/**
 * The target settings checks `box up` runs before creating anything, for every machine of the
 * project at once: `box validate` runs them so it refuses whatever up would (exit 2, the same
 * message with the Boxfile line:col). Each target checks its own machines (only aws has such
 * checks today).
 */
export async function checkTargetSettings(project: Project): Promise<void> {
  await checkPrivateNetworks(project, project.machines);
  for (const target of targetDescriptors()) await target.checkSettings?.(project);
}

/**
 * A setting box accepts is a setting box honours: `networks` on a target whose descriptor does
 * not implement the private network (features.privateNetwork) is refused before anything is
 * made, at the line and column where the machine gets it.
 */
export async function checkPrivateNetworks(project: Project, machines: readonly MachineConfig[]): Promise<void> {
  const refused = machines.filter((m) => m.networks.length > 0 && !targetDescriptor(m.target).features.privateNetwork);
  if (refused.length === 0) return;
  const able = targetDescriptors().filter((t) => t.features.privateNetwork).map((t) => t.name);
  const hint = `Use a target with a private network (${able.join(', ')}), or remove \`networks\` from these machines.`;
  const message = (m: MachineConfig) => `a private network is not supported yet on the ${m.target} target (machine ${m.name})`;
  const issues = await Promise.all(refused.map((m) => machineSettingIssue(project, m.name, ['networks'], message(m))));
  if (issues.every((issue) => issue !== undefined)) {
    try {
      throwIfIssues(issues as BoxfileIssue[], hint);
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      throw new UsageError('ERR_NOT_SUPPORTED', error.message, {hint, details: error.details});
    }
  }
  throw new UsageError('ERR_NOT_SUPPORTED', refused.map((m) => `${project.boxfilePath}: networks: ${message(m)}`).join('\n'), {hint});
}
