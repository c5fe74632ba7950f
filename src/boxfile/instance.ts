import {createHash} from 'node:crypto';
import path from 'node:path';
import {UsageError} from '../core/errors.js';

/**
 * Instances: one Boxfile brought up several times side by side (`box ci` jobs of one runner,
 * even in the same checkout). An instance is a project of its own: its root (state, lock,
 * machine index, cloud tags, private-network keys) is `<Boxfile folder>/.box/instances/<id>` and
 * its name `<name>-<id>`, so no machine, port, lock or cloud resource is shared.
 */

/** Longest instance id: a name of `<project>-<id>` stays a DNS label with room for the project. */
export const MAX_INSTANCE_ID = 40;
/** Project names go into DNS labels (`web.<project>`), VM names and tags. */
const MAX_PROJECT_NAME = 63;

/** Lowercase letters, digits and dashes; a too-long id keeps its start and a hash of the whole. */
export function sanitizeInstanceId(raw: string): string {
  const id = raw.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/-+/g, '-').replace(/^-|-$/g, '');
  if (id === '') {
    throw new UsageError('ERR_BAD_INSTANCE', `The instance id ${JSON.stringify(raw)} has no letter or digit.`, {hint: 'Use letters, digits and dashes, e.g. --instance pr-42.'});
  }
  if (id.length <= MAX_INSTANCE_ID) return id;
  const hash = createHash('sha256').update(id).digest('hex').slice(0, 8);
  return `${id.slice(0, MAX_INSTANCE_ID - 9).replace(/-$/, '')}-${hash}`;
}

/** Where an instance of the project whose Boxfile is in `folder` keeps its state. */
export function instanceRoot(folder: string, id: string): string {
  return path.join(folder, '.box', 'instances', id);
}

/** The instance a project root belongs to (the reverse of instanceRoot), if it is one. */
export function instanceOfRoot(root: string): {folder: string; id: string} | undefined {
  const id = path.basename(root);
  const instances = path.dirname(root);
  if (path.basename(instances) !== 'instances' || path.basename(path.dirname(instances)) !== '.box') return undefined;
  return {folder: path.dirname(path.dirname(instances)), id};
}

/** `<name>-<id>`, as a DNS label: lowercase letters, digits and dashes, at most 63 characters. */
export function instanceProjectName(name: string, id: string): string {
  const base = name.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/-+/g, '-').replace(/^-|-$/g, '') || 'box';
  return `${base.slice(0, MAX_PROJECT_NAME - id.length - 1).replace(/-$/, '')}-${id}`;
}
