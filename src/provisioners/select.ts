import type {ProvisionerCommon} from '../boxfile/schema.js';
import {UsageError} from '../core/errors.js';
import {orList} from '../core/printable.js';

/**
 * Which provisioners a command runs, with Vagrant's rules:
 * - 'provision' (first up, `box provision`, `up --provision`): every one but `run: never`;
 * - 'up' (an up of a machine provisioned before): only `run: always`;
 * - `provisionWith` (names or types, from --provision-with): exactly those, whatever their `run`.
 */
export interface ProvisionSelection {
  reason: 'provision' | 'up';
  provisionWith?: readonly string[];
}

/** Does --provision-with's NAME pick this provisioner (by its name, else by its type)? */
export function provisionWithMatches(config: ProvisionerCommon, names: readonly string[]): boolean {
  return names.includes(config.name ?? '') || names.includes(config.type);
}

export function selectProvisioners<C extends ProvisionerCommon>(configs: readonly C[], selection: ProvisionSelection): C[] {
  if (selection.provisionWith) return configs.filter((c) => provisionWithMatches(c, selection.provisionWith!));
  const run = (c: C) => c.run ?? 'once';
  return selection.reason === 'up' ? configs.filter((c) => run(c) === 'always') : configs.filter((c) => run(c) !== 'never');
}

/**
 * --provision-with names that no provisioner of the selected machines has are typos: a usage
 * error listing the names there are, before any machine is touched.
 */
export function checkProvisionWith(names: readonly string[], configs: readonly ProvisionerCommon[]): void {
  const unknown = names.filter((name) => !configs.some((c) => provisionWithMatches(c, [name])));
  if (unknown.length === 0) return;
  const known = [...new Set(configs.flatMap((c) => (c.name ? [c.name] : [])))];
  const types = [...new Set(configs.map((c) => c.type))];
  throw new UsageError('ERR_PROVISIONER_NOT_FOUND', `--provision-with ${unknown.map((n) => JSON.stringify(n)).join(', ')}: no provisioner of the selected machines has that name or type.`, {
    hint: configs.length === 0 ? 'The selected machines have no provisioners.' : `Names: ${known.length > 0 ? orList(known) : '(none: add `name:` to a provisioner)'}; types: ${orList(types)}.`,
  });
}

/** "a,b" and repeated flags → ["a", "b"] (Vagrant takes a comma-separated list). */
export function parseProvisionWith(values: readonly string[] | undefined): string[] | undefined {
  if (!values || values.length === 0) return undefined;
  const names = values.flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
  if (names.length === 0) throw new UsageError('ERR_USAGE', '--provision-with needs a provisioner name or type.');
  return names;
}
