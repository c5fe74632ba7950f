import {constants} from 'node:fs';
import {access} from 'node:fs/promises';
import type {MachineConfig, Project} from '../boxfile/project.js';
import {throwIfIssues, type BoxfileIssue} from '../boxfile/issues.js';
import {machineSettingIssue} from '../boxfile/setting-origin.js';
import {UsageError} from '../core/errors.js';
import type {SyncedFolderType} from '../boxfile/schema.js';
import {targetDescriptor, targetDescriptors} from '../providers/registry.js';

/**
 * The target settings checks `box up` runs before creating anything, for every machine of the
 * project at once: `box validate` runs them so it refuses whatever up would (exit 2, the same
 * message with the Boxfile line:col). Each target checks its own machines (only aws has such
 * checks today).
 */
export async function checkTargetSettings(project: Project): Promise<void> {
  await checkPrivateNetworks(project, project.machines);
  await checkSyncedFolderTypes(project, project.machines);
  await checkCloudInit(project, project.machines);
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
  refuseNotSupported(issues, refused.map((m) => `${project.boxfilePath}: networks: ${message(m)}`), hint);
}

/**
 * Throws ERR_NOT_SUPPORTED (exit 2) for settings a target does not implement: at their Boxfile
 * positions, or with the plain `fallback` lines when the Boxfile could not be read again.
 */
function refuseNotSupported(issues: ReadonlyArray<BoxfileIssue | undefined>, fallback: string[], hint: string): never {
  if (issues.every((issue) => issue !== undefined)) {
    try {
      throwIfIssues(issues as BoxfileIssue[], hint);
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      throw new UsageError('ERR_NOT_SUPPORTED', error.message, {hint, details: error.details});
    }
  }
  throw new UsageError('ERR_NOT_SUPPORTED', fallback.join('\n'), {hint});
}

/** The synced folder types a target implements (its descriptor's list; rsync when it names none). */
function syncedFolderTypes(target: string): readonly SyncedFolderType[] {
  return targetDescriptor(target).features.syncedFolderTypes ?? ['rsync'];
}

/**
 * A shared (live) synced folder needs the hypervisor's help: `type: 9p` or `virtiofs` on a
 * target whose descriptor does not list it is refused before anything is made, at the line and
 * column of the folder's `type`.
 */
export async function checkSyncedFolderTypes(project: Project, machines: readonly MachineConfig[]): Promise<void> {
  const refused = machines.flatMap((m) => m.syncedFolders
    .map((folder, index) => ({machine: m, index, type: folder.type}))
    .filter((f) => !syncedFolderTypes(f.machine.target).includes(f.type)));
  if (refused.length === 0) return;
  const types = [...new Set(refused.map((f) => f.type))];
  const able = targetDescriptors().filter((t) => types.every((type) => t.features.syncedFolderTypes?.includes(type))).map((t) => t.name);
  const hint = `Use \`type: rsync\` (a copy made at up)${able.length > 0 ? `, or a target that shares folders live (${able.join(', ')})` : ''}.`;
  const message = (f: typeof refused[number]) => `synced folder type ${f.type} is not supported on the ${f.machine.target} target (machine ${f.machine.name}; supported: ${syncedFolderTypes(f.machine.target).join(', ')})`;
  const issues = await Promise.all(refused.map((f) => machineSettingIssue(project, f.machine.name, ['synced_folders', f.index, 'type'], message(f), f.type)));
  refuseNotSupported(issues, refused.map((f) => `${project.boxfilePath}: synced_folders[${f.index}].type: ${message(f)}`), hint);
}

/** A cloud_init key as the Boxfile writes it, and where it may be written (top-level user_data is cloud_init.user_data). */
const cloudInitKeys = [
  {key: 'user_data', paths: [['user_data'], ['cloud_init', 'user_data']]},
  {key: 'meta_data', paths: [['cloud_init', 'meta_data']]},
  {key: 'network_config', paths: [['cloud_init', 'network_config']]},
] as const;

/**
 * cloud-init data, checked before anything is made: user-data set by two keys (`user_data`,
 * `cloud_init.user_data`, `targets.aws.user_data`) is a contradiction refused at the second;
 * a key the machine's target does not hand to the guest is "not supported yet" (aws: user_data
 * only); a host file that cannot be read is refused at its line.
 */
export async function checkCloudInit(project: Project, machines: readonly MachineConfig[]): Promise<void> {
  const issues: Array<Promise<BoxfileIssue | undefined>> = [];
  const fallback: string[] = [];
  const unsupported: typeof issues = [];
  const unsupportedFallback: string[] = [];
  const refuse = (m: MachineConfig, segments: string[], message: string, notSupported = false) => {
    (notSupported ? unsupported : issues).push(machineSettingIssue(project, m.name, segments, message));
    (notSupported ? unsupportedFallback : fallback).push(`${project.boxfilePath}: ${segments.join('.')}: ${message}`);
  };
  for (const m of machines) {
    const c = m.cloudInit;
    if (!c) continue;
    if (c.userDataSetAt.length > 1) {
      const [first, ...others] = c.userDataSetAt.map((p) => p.join('.'));
      refuse(m, c.userDataSetAt[1], `user-data is set by both ${first} and ${others.join(' and ')} (machine ${m.name}): they are one setting, keep one (${first} reaches every target)`);
    }
    const able = targetDescriptor(m.target).features.cloudInit ?? [];
    for (const {key, paths} of cloudInitKeys) {
      const value = key === 'user_data' ? c.userData : key === 'meta_data' ? c.metaData : c.networkConfig;
      if (value === undefined || able.includes(key)) continue;
      const written = paths.find((p) => c.userDataSetAt.some((q) => q.join('.') === p.join('.'))) ?? paths.at(-1)!;
      refuse(m, [...written], `${written.join('.')} is not supported yet on the ${m.target} target (machine ${m.name})`, true);
    }
    for (const [segments, source] of [[c.userDataSetAt[0] ?? ['user_data'], c.userData], [['cloud_init', 'network_config'], c.networkConfig]] as const) {
      if (!source || !('path' in source)) continue;
      const readable = await access(source.path, constants.R_OK).then(() => true, () => false);
      if (!readable) refuse(m, [...segments], `cannot read ${source.path} (a one-line value without a leading # names a host file, relative to the Boxfile; inline user-data starts with #cloud-config or #!)`);
    }
  }
  if (unsupported.length > 0) {
    const able = targetDescriptors().filter((t) => (t.features.cloudInit ?? []).length > 0).map((t) => `${t.name}: ${t.features.cloudInit!.join(', ')}`);
    refuseNotSupported(await Promise.all(unsupported), unsupportedFallback, `Targets that hand cloud-init data to the guest: ${able.join('; ')}.`);
  }
  if (issues.length === 0) return;
  const found = await Promise.all(issues);
  if (found.every((issue) => issue !== undefined)) throwIfIssues(found as BoxfileIssue[]);
  throw new UsageError('ERR_CONFIG', fallback.join('\n'));
}
