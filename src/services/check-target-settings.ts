import type {Project} from '../boxfile/project.js';
import {awsSettingsError, awsSettingsProblems} from '../providers/aws/settings-checks.js';

/**
 * The target settings checks `box up` runs before creating anything, for every machine of the
 * project at once: `box validate` runs them so it refuses whatever up would (exit 2, the same
 * message with the Boxfile line:col). Only the aws target has such checks today.
 */
export async function checkTargetSettings(project: Project): Promise<void> {
  const found = project.machines
    .filter((m) => m.target === 'aws')
    .flatMap((m) => awsSettingsProblems(m.aws, m).map((problem) => ({machine: m.name, problem})));
  if (found.length > 0) throw await awsSettingsError(project, found);
}
