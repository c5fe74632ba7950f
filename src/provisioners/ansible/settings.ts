import path from 'node:path';
import {z} from 'zod';

const list = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);
const GROUP = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Settings the host-side `ansible` and the in-guest `ansible_local` share (Vagrant's names). */
const sharedShape = {
  playbook: z.string().min(1).describe('The playbook, relative to the Boxfile.'),
  inventory_path: z.string().min(1).optional().describe('Your own inventory (file or folder, relative to the Boxfile) instead of the one box generates.'),
  extra_vars: z.union([z.record(z.unknown()), z.string().min(1)]).optional().describe('Variables for the play: a map, or a YAML/JSON file relative to the Boxfile (`@vars.yml` or `vars.yml`).'),
  tags: list.optional().describe('Only tasks with these tags (--tags).'),
  skip_tags: list.optional().describe('Skip tasks with these tags (--skip-tags).'),
  limit: list.optional().describe('An ansible host pattern (--limit); box also limits the play to the machines it provisions.'),
  become: z.boolean().optional().describe('Run the tasks with privilege escalation (--become, sudo).'),
  verbose: z.union([z.boolean(), z.enum(['v', 'vv', 'vvv', 'vvvv'])]).optional().describe('true (-v) or v, vv, vvv, vvvv.'),
  config_file: z.string().min(1).optional().describe('An ansible.cfg (ANSIBLE_CONFIG), relative to the Boxfile.'),
  galaxy_role_file: z.string().min(1).optional().describe('A requirements file: `ansible-galaxy install` runs with it first.'),
  galaxy_roles_path: z.string().min(1).optional().describe('Where galaxy roles go (default: roles/ next to the playbook).'),
  groups: z.record(z.string().regex(GROUP, 'expected an ansible group name (letters, digits, underscore; not starting with a digit)'), z.array(z.string().min(1)))
    .optional().describe('Inventory groups: group → machine names (or other groups, which become its children).'),
};

export const ansibleSettingsSchema = z.object({
  type: z.literal('ansible').describe('Runs ansible-playbook on the host against the machines, once for all of them.'),
  ...sharedShape,
}).strict();

// galaxy_roles_path is a host folder: in the guest, galaxy roles go to the run's own folder.
const {galaxy_roles_path: _hostRolesPath, ...localShape} = sharedShape;

export const ansibleLocalSettingsSchema = z.object({
  type: z.literal('ansible_local').describe('Runs ansible-playbook in the guest (installed from its packages when missing).'),
  ...localShape,
  install: z.boolean().optional().describe('Install ansible with the guest\'s package manager when it is missing (default true).'),
}).strict();

export type AnsibleSettings = z.output<typeof ansibleSettingsSchema> & {name?: string; run?: string};
export type AnsibleLocalSettings = z.output<typeof ansibleLocalSettingsSchema> & {name?: string; run?: string; galaxy_roles_path?: undefined};
export type AnsibleCommonSettings = Omit<AnsibleSettings, 'type'> & {type: string};

/** Host paths of both (checked to exist at validate, made absolute). */
export const ansibleHostFiles = ['playbook', 'inventory_path', 'config_file', 'galaxy_role_file'] as const;

/**
 * The other host paths: `extra_vars` naming a file (with or without Vagrant's leading @), and
 * `galaxy_roles_path` (a folder ansible-galaxy creates, so not checked to exist).
 */
export function ansibleHostPaths(config: Record<string, unknown>, abs: (file: string) => string): Record<string, unknown> {
  const out = {...config};
  if (typeof out.extra_vars === 'string') out.extra_vars = `@${abs(out.extra_vars.replace(/^@/, ''))}`;
  if (typeof out.galaxy_roles_path === 'string') out.galaxy_roles_path = abs(out.galaxy_roles_path);
  return out;
}

/** "site.yml" from the playbook path: the label of a provisioner with no name. */
export function playbookLabel(config: {name?: string; playbook: string}): string {
  return config.name ?? path.basename(config.playbook);
}
