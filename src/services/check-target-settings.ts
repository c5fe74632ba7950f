import type {Project} from '../boxfile/project.js';
import {targetDescriptors} from '../providers/registry.js';

/**
 * The target settings checks `box up` runs before creating anything, for every machine of the
 * project at once: `box validate` runs them so it refuses whatever up would (exit 2, the same
 * message with the Boxfile line:col). Each target checks its own machines (only aws has such
 * checks today).
 */
export async function checkTargetSettings(project: Project): Promise<void> {
  for (const target of targetDescriptors()) await target.checkSettings?.(project);
}
