import type {ProjectFacts, ProjectMachine} from '../provisioner.js';
import {sshCommonOptions} from '../../communicators/ssh/openssh.js';
import {UsageError} from '../../core/errors.js';

/** The group of the machines one run provisions: box's limit intersects the user's with it. */
export const TARGETS_GROUP = 'box_targets';

type Hosts = Record<string, Record<string, unknown>>;
interface Group {hosts?: Record<string, null>; children?: Record<string, null>}

/** An ansible inventory (the YAML/JSON inventory plug-in's shape). */
export interface Inventory {
  all: {hosts: Hosts; vars: Record<string, unknown>; children: Record<string, Group>};
}

export interface InventoryInput {
  project: ProjectFacts;
  /** Every machine the inventory names, with how to reach it (host-side), or none (in-guest). */
  machines: Array<ProjectMachine | {name: string; privateIp?: string; local: true}>;
  /** The machines this run provisions (the box_targets group). */
  targets: readonly string[];
  /** `groups:` of the provisioner: group → machine names or group names. */
  groups?: Record<string, string[]>;
}

/** "dev" stays; anything ansible does not take in a group name becomes "_". */
export function environmentGroup(environment: string): string {
  const name = environment.replace(/[^A-Za-z0-9_]/g, '_');
  return /^[0-9]/.test(name) ? `_${name}` : name;
}

/**
 * The inventory box writes for a run, built from the same facts as `box ssh-config`: one host
 * per machine named after it (address, port, user, key and box's ssh options, so host keys that
 * change with every new machine are not checked), `box_private_ip` when the machine is on the
 * private network, a group per `groups:` entry (a member that is itself a group becomes a
 * child group), one group for the --env environment (unless `groups:` has one of that name),
 * and box_targets.
 */
export function buildInventory(input: InventoryInput): Inventory {
  const hosts: Hosts = {};
  const common = sshCommonOptions().join(' ');
  for (const machine of input.machines) {
    const vars: Record<string, unknown> = 'local' in machine
      ? {ansible_connection: 'local'}
      : {
        ansible_host: machine.ssh.host,
        ansible_port: machine.ssh.port,
        ansible_user: machine.ssh.username,
        ansible_ssh_private_key_file: machine.ssh.privateKeyPath,
        ansible_ssh_common_args: common,
      };
    hosts[machine.name] = {...vars, box_machine: machine.name, ...(machine.privateIp ? {box_private_ip: machine.privateIp} : {})};
  }
  const known = new Set(Object.keys(hosts));
  const userGroups = input.groups ?? {};
  const children: Record<string, Group> = {};
  for (const [group, members] of Object.entries(userGroups)) {
    if (group === TARGETS_GROUP || group === 'all' || group === 'ungrouped') {
      throw new UsageError('ERR_ANSIBLE_GROUP', `The ansible group name "${group}" is taken (box_targets is box's, all and ungrouped are ansible's).`, {hint: 'Rename the group under groups: in the Boxfile.'});
    }
    const entry: Group = {};
    for (const member of members) {
      if (member in userGroups) (entry.children ??= {})[member] = null;
      // A machine that is not running is not in the inventory (ansible could not reach it).
      else if (known.has(member)) (entry.hosts ??= {})[member] = null;
    }
    children[group] = entry;
  }
  // A `groups:` entry of the same name is the user's own, and wins.
  const envGroup = input.project.environment ? environmentGroup(input.project.environment) : undefined;
  if (envGroup && !(envGroup in children)) children[envGroup] = {hosts: Object.fromEntries([...known].map((name) => [name, null]))};
  children[TARGETS_GROUP] = {hosts: Object.fromEntries(input.targets.filter((t) => known.has(t)).map((t) => [t, null]))};
  return {
    all: {
      hosts,
      vars: {box_project: input.project.name, ...(input.project.environment ? {box_environment: input.project.environment} : {})},
      children,
    },
  };
}

/**
 * The --limit of a run. With box's inventory: the user's pattern and `&box_targets` (ansible
 * applies intersections after the plain patterns, so this is "what the user asked, among the
 * machines box provisions now"). With the user's own inventory box cannot know its groups: the
 * user's limit as written, else the machines by name.
 */
export function runLimit(userLimit: string | string[] | undefined, targets: readonly string[], ownInventory: boolean): string {
  const user = userLimit === undefined ? undefined : (Array.isArray(userLimit) ? userLimit.join(',') : userLimit);
  if (ownInventory) return user ?? targets.join(',');
  return user ? `${user},&${TARGETS_GROUP}` : TARGETS_GROUP;
}
