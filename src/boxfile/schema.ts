import {isIP} from 'node:net';
import {z} from 'zod';
import {ENV_NAME} from '../core/env-name.js';
import {orList} from '../core/printable.js';
import {diskGiB, memoryMiB} from './sizes.js';
import {privateIpProblem} from './private-network.js';

/**
 * The Boxfile schema. The same schema validates the Boxfile, `~/.box/config.yaml`, machine
 * overrides and environment overlays, and is exported to `schemas/boxfile.schema.json` for
 * editors. Objects are strict so that a typo is an error with a did-you-mean, not a silent no-op.
 * Sizes accept a number (MiB for memory, GiB for disk) or a string with a unit ("2G", "512M").
 */

const SIZE = /^\s*\d+(\.\d+)?\s*([KMGT]i?B?|[kmgt])?\s*$/;
const sizeString = z.string().regex(SIZE, 'expected a size such as 2048, "512M" or "2G"');
/** zod still runs a union's refinement on a value the union rejected: that one has its own error already. */
const notASize = (v: number | string): boolean => typeof v === 'string' && !SIZE.test(v);
/** Memory outside this range is a typo (a unit forgotten or doubled), not a machine anyone runs. */
const MIN_MEMORY_MIB = 64;
const MAX_MEMORY_MIB = 4 * 1024 * 1024;
export const memorySchema = z.union([z.number().int().positive(), sizeString])
  .refine((v) => {
    if (notASize(v)) return true;
    const mib = memoryMiB(v);
    return mib >= MIN_MEMORY_MIB && mib <= MAX_MEMORY_MIB;
  }, 'must be between 64 MiB and 4 TiB (a bare number is MiB: 2048, or "2G")')
  .describe('Memory: MiB as a number, or a size with a unit ("2G").');
/** A finite disk QEMU can create (`disk: 1e400` is Infinity in YAML and reached qemu-img as such). */
const MAX_DISK_GIB = 64 * 1024;
export const diskSchema = z.union([z.number().positive(), sizeString])
  .refine((v) => {
    if (notASize(v)) return true;
    const gib = diskGiB(v);
    return Number.isFinite(gib) && gib <= MAX_DISK_GIB;
  }, 'must be between 1 GiB and 64 TiB (a bare number is GiB: 20, or "20G")')
  .describe('Disk size: GiB as a number, or a size with a unit ("20G").');

/** How `target: ALIAS` differs from its target: what it means, settings it forces. */
export interface TargetAliasSpec {
  name: string;
  /** What the alias means, for `--help` and the editor schema: "qemu with KVM required". */
  means: string;
  /** Said when a machine uses it: "QEMU with KVM required" (default: `means`). */
  note?: string;
  /** Settings of `targets.<target>` the alias forces (kvm: `accel: kvm`). */
  settings?: Record<string, unknown>;
  /**
   * Values of those settings the Boxfile may not write with the alias (kvm: `accel: tcg`), and
   * what to do instead ("drop it, or use target: qemu for TCG").
   */
  contradictions?: {values: Record<string, readonly unknown[]>; hint: string};
}

/** What resolving a target's settings knows besides them: who forced one (`target: kvm`, `--target kvm`). */
export interface TargetResolveContext {
  forcedBy?: string;
}

/**
 * The Boxfile side of a target (built-in or plug-in): its name, its `targets.<name>` settings,
 * its aliases. providers/registry.ts registers it from each target's descriptor; boxfile/
 * names no target itself.
 */
export interface BoxfileTargetPlugin {
  name: string;
  settings: z.AnyZodObject;
  aliases?: ReadonlyArray<string | TargetAliasSpec>;
  /** Its settings' built-in defaults (part of the lowest layer). */
  defaults?: Record<string, unknown>;
  /**
   * Its merged `targets.<name>` settings as the typed config providers read as
   * `MachineConfig[name]` (the target's folder declares that field with `declare module`).
   * Without it the chosen target's settings reach `MachineConfig.targetSettings` as written.
   */
  resolve?(settings: Record<string, unknown>, context: TargetResolveContext): unknown;
  /** When a machine on this target may do without a basebox (aws naming an AMI), and how to say so. */
  baseboxOptional?: {
    test(settings: Record<string, unknown>): boolean;
    /** "an aws machine with targets.aws.ami or ami_filter" */
    when: string;
  };
  /** Example settings for `box init`'s starter Boxfile, as YAML lines (`written`: the target it was given, kvm...). */
  starter?(written: string): string[];
  /** Its settings that name a file on the host: relative to the file that wrote them, and must exist. */
  hostFiles?: readonly string[];
  /** Its machines forward ports of this host (qemu, virtualbox): clashes between machines are errors. */
  forwardsHostPorts?: boolean;
  /**
   * A module whose import registers this target: the Boxfile worker thread (large Boxfiles)
   * imports it first, since registrations do not cross threads.
   */
  module?: string;
}

/** The Boxfile side of a plug-in provisioner: its schema (with `type: z.literal(...)`), its host paths. */
export interface BoxfileProvisionerPlugin {
  type: string;
  schema: z.AnyZodObject;
  /**
   * Its keys that name a file or folder on the host: made absolute against the file that wrote
   * them, and checked to exist when the Boxfile is validated (with file, line and field).
   */
  hostFiles?: readonly string[];
  /** Makes other host paths absolute (`abs` resolves against the file that wrote them). */
  hostPaths?(config: Record<string, unknown>, abs: (file: string) => string): Record<string, unknown>;
  /** A module whose import registers it (the Boxfile worker thread imports it, as a target's). */
  module?: string;
}

const boxfileTargets = new Map<string, BoxfileTargetPlugin>();
const pluginProvisioners = new Map<string, BoxfileProvisionerPlugin>();

type RegisteredAlias = TargetAliasSpec & {target: string; note: string};

function aliasSpecs(target: BoxfileTargetPlugin): RegisteredAlias[] {
  return (target.aliases ?? []).map((alias) => {
    const spec = typeof alias === 'string' ? {name: alias, means: `another name for ${target.name}`} : alias;
    return {...spec, note: spec.note ?? spec.means, target: target.name};
  });
}

/** Every alias of every target, in registration order. */
export function targetAliasSpecs(): RegisteredAlias[] {
  return [...boxfileTargets.values()].flatMap(aliasSpecs);
}

/** An alias and its target, or undefined when `name` is no alias. */
export function targetAlias(name: string): RegisteredAlias | undefined {
  return targetAliasSpecs().find((a) => a.name === name);
}

/** The target a name stands for: kvm and libvirt are qemu. */
export function canonicalTarget(name: string): string {
  return targetAlias(name)?.target ?? name;
}

/** Every target name `target:` accepts, in registration order (the first is the default). */
export function targetNames(): string[] {
  return [...boxfileTargets.keys()];
}

/** The target of a machine that names none: the first registered (qemu). */
export function defaultTargetName(): string {
  const first = targetNames()[0];
  if (first === undefined) throw new Error('no target is registered: import providers/registry.js before loading a Boxfile');
  return first;
}

/** What `target:` and `--target` accept: a target or an alias of one. */
export function targetInputNames(): string[] {
  return [...targetNames(), ...targetAliasSpecs().map((a) => a.name)];
}

/** The Boxfile side of a registered target. */
export function boxfileTarget(name: string): BoxfileTargetPlugin | undefined {
  return boxfileTargets.get(name);
}

export function registeredBoxfileTargets(): BoxfileTargetPlugin[] {
  return [...boxfileTargets.values()];
}

/** Modules the Boxfile worker thread imports so that it knows the targets (and plug-in provisioners) this thread knows. */
export function targetModules(): string[] {
  const modules = [...registeredBoxfileTargets(), ...pluginProvisioners.values()].flatMap((t) => (t.module ? [t.module] : []));
  return [...new Set(modules)];
}

/**
 * Keys every provisioner takes (Vagrant's): its `name` (for progress, errors and
 * `--provision-with`) and when it runs. registerBoxfileProvisioner adds them to a plug-in's schema.
 */
export const provisionerCommonShape = {
  name: z.string().min(1).optional().describe('Shown in progress and errors; `box provision --provision-with NAME` runs it alone.'),
  run: z.enum(['once', 'always', 'never']).optional().describe('once (default): on the first up, `box provision` and `up --provision`; always: on every up too; never: only when named by --provision-with.'),
};

export const shellProvisionerSchema = z.object({
  type: z.literal('shell').describe('Runs a script in the guest.'),
  ...provisionerCommonShape,
  inline: z.union([z.string(), z.array(z.string())]).optional(),
  path: z.string().optional().describe('A script on the host, relative to the Boxfile.'),
  args: z.array(z.string()).optional(),
  env: z.record(z.string().regex(ENV_NAME, 'expected an environment variable name (letters, digits and _, not starting with a digit)'), z.string()).optional(),
  privileged: z.boolean().optional().describe('Run with sudo (default true).'),
}).strict();

export const fileProvisionerSchema = z.object({
  type: z.literal('file').describe('Uploads a file or folder to the guest.'),
  ...provisionerCommonShape,
  source: z.string().describe('File or folder on the host, relative to the Boxfile.'),
  destination: z.string(),
}).strict();

// The inline/path rule lives on the union (not on the shell object) because a discriminated
// union needs plain objects as options.
function buildProvisionerSchema() {
  const plugins = [...pluginProvisioners.values()].map((p) => p.schema) as typeof fileProvisionerSchema[];
  return z.discriminatedUnion('type', [
    shellProvisionerSchema,
    fileProvisionerSchema,
    ...plugins,
  ]).superRefine((p, ctx) => {
    if (p.type === 'shell' && (p.inline === undefined) === (p.path === undefined)) {
      ctx.addIssue({code: z.ZodIssueCode.custom, message: 'a shell provisioner needs exactly one of inline or path'});
    }
  });
}

/** An RFC 1123 host name or fully qualified domain name (no trailing dot), and not an IP address. */
export function isHostName(value: string): boolean {
  if (value.length === 0 || value.length > 253 || isIP(value) !== 0) return false;
  return value.split('.').every((label) => /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i.test(label));
}

export const forwardedPortSchema = z.object({
  guest: z.number().int().min(1).max(65535).describe('Port in the guest.'),
  host: z.number().int().min(1).max(65535).describe('Port on the host.'),
  protocol: z.enum(['tcp', 'udp']).optional().describe('tcp (default) or udp.'),
  host_ip: z.string().refine((ip) => isIP(ip) !== 0, 'must be an IP address such as 127.0.0.1 or 0.0.0.0').optional().describe('Address to bind on the host (default 127.0.0.1).'),
}).strict();

/** A user or group name in the guest (useradd's rules, loosely): no spaces, colons or slashes. */
const guestAccountName = z.string().regex(/^[a-z_][a-z0-9_.-]*\$?$/i, 'expected a user or group name such as vagrant or www-data');

export const syncedFolderSchema = z.object({
  source: z.string().describe('Folder on the host, relative to the Boxfile.'),
  destination: z.string().refine((p) => p.startsWith('/'), 'must be an absolute path in the guest, such as /srv/app').describe('Absolute path in the guest.'),
  type: z.enum(['rsync', '9p', 'virtiofs']).optional().describe('rsync (default): copied host → guest over SSH at `up`, `reload` and `box rsync` (files removed on the host are deleted in the guest); 9p or virtiofs: shared live (qemu).'),
  exclude: z.array(z.string().min(1)).optional().describe('rsync only: rsync exclude patterns (`*.log`, `/build/`, `node_modules/`); the project\'s .box/ is always excluded.'),
  gitignore: z.boolean().optional().describe('rsync only: leave out what the project\'s .gitignore files ignore (default false).'),
  owner: guestAccountName.optional().describe('rsync only: owner of the copied files in the guest (default: the SSH user).'),
  group: guestAccountName.optional().describe('rsync only: group of the copied files in the guest (default: the owner\'s primary group).'),
}).strict();

export const privateNetworkSchema = z.object({
  type: z.literal('private').describe('A network only this project\'s machines share.'),
  ip: z.string().superRefine((ip, ctx) => {
    const problem = privateIpProblem(ip);
    if (problem) ctx.addIssue({code: z.ZodIssueCode.custom, message: problem});
  }).optional().describe('The machine\'s IPv4 address on it (a /24); absent: one is assigned from the project subnet and kept.'),
}).strict();

export const sshSettingsSchema = z.object({
  username: z.string().optional(),
  private_key_path: z.string().optional(),
  port: z.number().int().min(1).max(65535).optional(),
  timeout: z.number().int().positive().max(86_400).optional().describe('Seconds to wait for SSH after boot (at most a day).'),
  insert_key: z.boolean().optional().describe('Replace the insecure key with a per-machine key on first boot (default true).'),
}).strict();

/** One lifecycle hook: a command on the host (`run`) or a script in the guest (`run_remote`). */
export const hookSchema = z.object({
  name: z.string().optional().describe('Shown in output and errors (default: the command).'),
  run: z.string().min(1).optional().describe('A command run on the host by sh, in the Boxfile\'s folder.'),
  run_remote: z.string().min(1).optional().describe('A script run in the guest (like a shell provisioner).'),
  privileged: z.boolean().optional().describe('run_remote only: with sudo (default true).'),
}).strict().superRefine((hook, ctx) => {
  if ((hook.run === undefined) === (hook.run_remote === undefined)) {
    ctx.addIssue({code: z.ZodIssueCode.custom, message: 'a hook needs exactly one of run (a command on the host) or run_remote (a script in the guest)'});
  } else if (hook.run !== undefined && hook.privileged !== undefined) {
    ctx.addIssue({code: z.ZodIssueCode.custom, path: ['privileged'], message: 'applies to run_remote only (a run hook runs as you on the host)'});
  }
});

/** Lifecycle events (Scalarium/OpsWorks): each a list of hooks, outer layers first. */
export const hooksSchema = z.object({
  setup: z.array(hookSchema).optional().describe('After the first up of the machine (and its provisioners).'),
  configure: z.array(hookSchema).optional().describe('On every running machine, whenever a machine of the project comes up or goes away; BOX_CLUSTER_JSON and /var/lib/box/cluster.json hold the cluster map.'),
  shutdown: z.array(hookSchema).optional().describe('Before halt (not --force) and destroy of a running machine.'),
}).strict();

/** One command of `box ci`: a command string, or {name, run, privileged}. */
export const ciTestSchema = z.union([
  z.string().min(1).describe('A command run in the guest by sh, as the SSH user, in its home folder.'),
  z.object({
    name: z.string().min(1).optional().describe('The test case name in the JUnit report (default: the command).'),
    run: z.string().min(1).describe('A command run in the guest by sh, in the SSH user\'s home folder.'),
    privileged: z.boolean().optional().describe('Run it with sudo (default false).'),
  }).strict(),
]);

// Names go into folder names, QEMU/VirtualBox VM names and cloud tags (`box-PROJECT-MACHINE`):
// 63 characters keeps all of them within their limits.
/** `cloud_init`: what a NoCloud seed carries; each text is inline (a line break or a leading #) or a host file. */
export const cloudInitSchema = z.object({
  user_data: z.string().min(1).optional().describe('user-data: inline (#cloud-config ..., #!/bin/sh ...) or a host file.'),
  meta_data: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional().describe('Extra meta-data keys; box writes instance-id (one per machine) and local-hostname (hostname, else the machine name) unless given here.'),
  network_config: z.string().min(1).optional().describe('network-config (version 1 or 2): inline or a host file.'),
}).strict();

export const machineNameSchema = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/i, 'expected a machine name of letters, digits, dash or underscore, at most 63 characters');

/** "kvm is qemu with KVM required, libvirt another name for qemu" */
export function targetAliasSummary(): string {
  return targetAliasSpecs().map((a, i) => `${a.name}${i === 0 ? ' is' : ''} ${a.means}`).join(', ');
}

/** "Where machines run: qemu (default), virtualbox or aws; kvm is qemu with KVM required, ..." */
function targetDescription(): string {
  const names = orList(targetNames().map((name, i) => (i === 0 ? `${name} (default)` : name)));
  return `Where machines run: ${names}${targetAliasSummary() ? `; ${targetAliasSummary()}` : ''}. --target overrides it.`;
}

function buildSchemas() {
  // Before any target registers (boxfile/ imported on its own), no name is accepted.
  const targetInputSchema = z.enum((targetInputNames().length > 0 ? targetInputNames() : ['']) as [string, ...string[]]);
  const targetsSchema = z.object(Object.fromEntries(registeredBoxfileTargets().map((t) => [t.name, t.settings.optional()]))).strict();
  const provisionerSchema = buildProvisionerSchema();
  /** What a machine can override (and what an environment overlay may set). */
  const machineSettingsShape = {
    basebox: z.string().min(1).optional().describe('Store name with an optional version constraint (debian-12@>= 1.0, < 2), a path to a .box, or a URL. Optional for an aws machine whose targets.aws.ami or ami_filter names its image.'),
    basebox_url: z.string().optional().describe('Where to fetch the basebox (a .box or catalog JSON) when it is not in the store.'),
    target: targetInputSchema.optional().describe(targetDescription()),
    targets: targetsSchema.optional().describe('Settings per target; only the chosen target\'s settings are used.'),
    provisioners: z.array(provisionerSchema).optional().describe('Run in order on `box up` (first boot) and `box provision`. Lists from outer layers run first.'),
    forwarded_ports: z.array(forwardedPortSchema).optional().describe('Host ports forwarded to guest ports; host ports must be unique per machine.'),
    synced_folders: z.array(syncedFolderSchema).optional().describe('Host folders copied into the guest.'),
    ssh: sshSettingsSchema.optional().describe('How box reaches the guest over SSH.'),
    hooks: hooksSchema.optional().describe('Lifecycle events: setup (first up), configure (a machine came or went), shutdown (before halt and destroy); lists from outer layers run first.'),
    networks: z.array(privateNetworkSchema).max(1).optional().describe('A second interface on the project\'s private network; every machine on it is named in the others\' /etc/hosts.'),
    tests: z.array(ciTestSchema).optional().describe('Commands `box ci` runs in the guest after up, one JUnit test case each; a later layer replaces the list.'),
    artifacts: z.array(z.string().min(1)).optional().describe('Guest paths or shell globs `box ci` copies back into --artifacts-dir/MACHINE (relative ones from the SSH user\'s home), after the tests, pass or fail.'),
    user_data: z.string().min(1).optional().describe('cloud-init user-data for every target: inline (a text with a line break or starting with #, as #cloud-config does) or a host file. qemu: a NoCloud seed CD; aws: RunInstances UserData. Same as cloud_init.user_data.'),
    cloud_init: cloudInitSchema.optional().describe('cloud-init data of the machine (NoCloud on qemu; aws takes user_data only).'),
    hostname: z.string().refine(isHostName, 'must be a host name (RFC 1123): dot-separated labels of letters, digits and hyphens, each 1-63 characters, not starting or ending with a hyphen, 253 characters in all, not an IP address').optional().describe('Host name set in the guest at `up` (/etc/hostname, the 127.0.1.1 line of /etc/hosts), e.g. web-1 or web-1.example.test.'),
  };

  const machineSettingsSchema = z.object(machineSettingsShape).strict();
  /** A machine of the Boxfile: its settings, and where it stands among the others. */
  const machineEntrySchema = machineSettingsSchema.extend({
    roles: z.array(z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/i, 'expected a role name of letters, digits, dot, dash or underscore')).optional().describe('What the machine is in the cluster (default: its name), in the cluster map that configure hooks get.'),
    depends_on: z.array(machineNameSchema).optional().describe('Machines that `box up` brings up (and provisions) before this one, and that `box halt` and `box destroy` stop after it (db before app before web).'),
  }).strict();

  const environmentSchema = z.object({
    ...machineSettingsShape,
    machines: z.record(machineNameSchema, machineSettingsSchema.nullable()).optional().describe('Per-machine settings for this environment (an empty entry changes nothing).'),
  }).strict();

  const boxfileSchema = z.object({
    version: z.literal(1).optional().describe('Boxfile format version (1).'),
    name: z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/i, 'expected letters, digits, dot, dash or underscore, at most 63 characters').optional().describe('Project name (default: the folder name); used in tags and the machine index.'),
    ...machineSettingsShape,
    machines: z.record(machineNameSchema, machineEntrySchema.nullable()).optional().describe('Machines of a multi-machine project (web, app, db): name → settings that override the top level (an empty entry, `web:`, uses them as they are).'),
    environments: z.record(environmentSchema.nullable()).optional().describe('Environment overlays (dev, test, prod) chosen with --env: settings and per-machine settings applied over the Boxfile.'),
  }).strict();

  /**
   * `~/.box/config.yaml`: the per-user defaults layer. It takes the machine settings of a Boxfile
   * (all optional); project-only sections (name, machines, environments) are refused there.
   */
  const userConfigSchema = z.object({
    version: z.literal(1).optional(),
    ...machineSettingsShape,
  }).strict();
  return {targetInputSchema, targetsSchema, provisionerSchema, machineSettingsShape, machineSettingsSchema, environmentSchema, boxfileSchema, userConfigSchema};
}

type Schemas = ReturnType<typeof buildSchemas>;

// Rebuilt when a plug-in registers (ES module bindings are live: importers see the new ones).
export let {targetInputSchema, targetsSchema, provisionerSchema, machineSettingsShape, machineSettingsSchema, environmentSchema, boxfileSchema, userConfigSchema}: Schemas = buildSchemas();

let batches = 0;

function rebuild(): void {
  if (batches > 0) return;
  ({targetInputSchema, targetsSchema, provisionerSchema, machineSettingsShape, machineSettingsSchema, environmentSchema, boxfileSchema, userConfigSchema} = buildSchemas());
}

/**
 * Runs `register` (several registerBoxfileTarget/registerBoxfileProvisioner calls) with the
 * schemas rebuilt once at its end rather than after each: building them is zod work every
 * command pays at start-up (the built-in targets and provisioners register on import).
 */
export function inOneSchemaRebuild(register: () => void): void {
  batches++;
  try {
    register();
  } finally {
    batches--;
    rebuild();
  }
}

/** Adds a target to the Boxfile (or replaces the one of its name): `target: NAME`, `targets.NAME` settings, its aliases. */
export function registerBoxfileTarget(plugin: BoxfileTargetPlugin): void {
  boxfileTargets.set(plugin.name, plugin);
  rebuild();
}

/** Adds a plug-in provisioner's schema (and its host paths) to the Boxfile. */
export function registerBoxfileProvisioner(plugin: BoxfileProvisionerPlugin): void {
  // shell and file are in the schema already (their registry entries name the same schemas).
  if (plugin.type === 'shell' || plugin.type === 'file') return;
  pluginProvisioners.set(plugin.type, {...plugin, schema: plugin.schema.extend(provisionerCommonShape)});
  rebuild();
}

export function boxfileProvisionerPlugin(type: string): BoxfileProvisionerPlugin | undefined {
  return pluginProvisioners.get(type);
}


export type UserConfig = z.output<typeof userConfigSchema>;
export type BoxfileInput = z.input<typeof boxfileSchema>;
export type Boxfile = z.output<typeof boxfileSchema>;
export type MachineSettings = z.output<typeof machineSettingsSchema>;
/** A registered target's name (built-in or plug-in). */
export type TargetName = string;
export type TargetInput = string;
export type ShellProvisionerConfig = z.output<typeof shellProvisionerSchema>;
export type FileProvisionerConfig = z.output<typeof fileProvisionerSchema>;
export type ProvisionerConfig = ShellProvisionerConfig | FileProvisionerConfig;
/** What every provisioner's config has (a plug-in's too): its type and the common keys. */
export type ProvisionerCommon = {type: string} & z.output<z.ZodObject<typeof provisionerCommonShape>>;
export type ProvisionerRun = NonNullable<ProvisionerCommon['run']>;
export type ForwardedPort = z.output<typeof forwardedPortSchema>;
export type HookConfig = z.output<typeof hookSchema>;
export type HookEvent = keyof z.output<typeof hooksSchema>;
export type PrivateNetwork = z.output<typeof privateNetworkSchema>;
/** How a synced folder reaches the guest (`synced_folders[].type`). */
export type SyncedFolderType = NonNullable<z.output<typeof syncedFolderSchema>['type']>;
