import {isIP} from 'node:net';
import {z} from 'zod';
import {ENV_NAME} from '../core/env-name.js';
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

export const qemuSettingsSchema = z.object({
  cpus: z.number().int().min(1).max(256).optional().describe('Virtual CPUs (default 2).'),
  memory: memorySchema.optional(),
  disk: diskSchema.optional(),
  accel: z.enum(['auto', 'kvm', 'tcg']).optional().describe('auto uses KVM when it really works, else TCG (software emulation).'),
  machine_type: z.string().optional().describe('QEMU -machine type, default q35.'),
  extra_args: z.array(z.string()).optional().describe('Extra qemu-system arguments, appended as given.'),
  binary: z.string().optional().describe('qemu-system binary to use (default qemu-system-x86_64).'),
}).strict();

export const virtualboxSettingsSchema = z.object({
  cpus: z.number().int().min(1).max(256).optional().describe('Virtual CPUs (default 2).'),
  memory: memorySchema.optional(),
  linked_clone: z.boolean().optional().describe('Clone the basebox as a linked clone (default true: fast, small).'),
  gui: z.boolean().optional().describe('Show the VirtualBox window (default false: headless).'),
}).strict();

export const blockDeviceSchema = z.object({
  device_name: z.string().regex(/^\/dev\/(sd|xvd|nvme)[a-z0-9]+$/, 'expected a device name such as /dev/sdb'),
  virtual_name: z.string().regex(/^ephemeral\d+$/, 'expected ephemeral0..ephemeralN').optional(),
  volume_size: z.number().int().positive().optional(),
  volume_type: z.enum(['gp2', 'gp3', 'io1', 'io2', 'st1', 'sc1', 'standard']).optional(),
  iops: z.number().int().positive().optional(),
  encrypted: z.boolean().optional(),
  delete_on_termination: z.boolean().optional(),
  snapshot_id: z.string().optional(),
}).strict();

export const awsSettingsSchema = z.object({
  region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d+$|^[a-z0-9-]+$/, 'expected a region such as eu-west-1').optional(),
  profile: z.string().optional(),
  endpoint: z.string().url().optional().describe('EC2 API endpoint, for EC2-compatible clouds (also AWS_ENDPOINT_URL_EC2).'),
  ami: z.string().regex(/^ami-[0-9a-f]+$/, 'expected an AMI id such as ami-0123456789abcdef0').optional(),
  ami_filter: z.object({owner: z.string(), name: z.string()}).strict().optional().describe('Pick the newest AMI of this owner whose name matches (wildcards allowed).'),
  instance_type: z.string().optional(),
  subnet_id: z.string().optional(),
  security_groups: z.array(z.string()).optional(),
  ssh_cidr: z.string().regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, 'expected a CIDR such as 203.0.113.4/32').optional(),
  key_name: z.string().optional(),
  private_key_path: z.string().optional(),
  ssh_username: z.string().optional(),
  ssh_interface: z.enum(['public', 'private']).optional(),
  user_data: z.string().optional(),
  block_device_mappings: z.array(blockDeviceSchema).optional(),
  tags: z.record(z.string()).optional(),
  iam_instance_profile: z.string().optional(),
  spot: z.union([z.boolean(), z.object({max_price: z.string().optional()}).strict()]).optional(),
  metadata_options: z.object({
    http_tokens: z.enum(['required', 'optional']).optional().describe('required (default): IMDSv2 only, session tokens; optional: also IMDSv1.'),
    http_endpoint: z.enum(['enabled', 'disabled']).optional().describe('The instance metadata service: enabled (default) or disabled.'),
    http_put_response_hop_limit: z.number().int().min(1).max(64).optional().describe('Hops a token response may travel (EC2 default 1; 2 for containers on the instance).'),
  }).strict().optional().describe('Instance metadata service (IMDS) of the instance, for up and bakes. Default: IMDSv2 required, endpoint enabled.'),
}).strict();

/** The targets box ships; plug-in targets add theirs with registerBoxfileTarget. */
export const builtinTargetNames = ['qemu', 'virtualbox', 'aws'] as const;
export type BuiltinTargetName = typeof builtinTargetNames[number];

/** The Boxfile side of a plug-in target: its name, its `targets.<name>` settings, its aliases. */
export interface BoxfileTargetPlugin {
  name: string;
  settings: z.AnyZodObject;
  aliases?: readonly string[];
}

/** The Boxfile side of a plug-in provisioner: its schema (with `type: z.literal(...)`), its host paths. */
export interface BoxfileProvisionerPlugin {
  type: string;
  schema: z.AnyZodObject;
  /** Makes the config's host paths absolute (`abs` resolves against the file that wrote them). */
  hostPaths?(config: Record<string, unknown>, abs: (file: string) => string): Record<string, unknown>;
}

const pluginTargets = new Map<string, BoxfileTargetPlugin>();
const pluginProvisioners = new Map<string, BoxfileProvisionerPlugin>();

/**
 * Other names users know the qemu target by. `kvm` is QEMU with KVM required (accel: kvm: it
 * fails, saying why, where KVM does not work, instead of falling back to TCG); `libvirt` is
 * what Vagrant calls it, though box runs QEMU itself, without libvirtd. Their settings live
 * under `targets.qemu`.
 */
export const targetAliases = {
  kvm: {target: 'qemu', accel: 'kvm', note: 'QEMU with KVM required'},
  libvirt: {target: 'qemu', note: 'box runs QEMU itself, without libvirtd'},
} as const satisfies Record<string, {target: BuiltinTargetName; accel?: 'kvm'; note: string}>;

export type TargetAlias = keyof typeof targetAliases;

export function isTargetAlias(name: string): name is TargetAlias {
  return Object.hasOwn(targetAliases, name);
}

/** Aliases of plug-in targets: alias → target. */
function pluginAliases(): Map<string, string> {
  return new Map([...pluginTargets.values()].flatMap((t) => (t.aliases ?? []).map((alias) => [alias, t.name] as [string, string])));
}

/** The target a name stands for: kvm and libvirt are qemu. */
export function canonicalTarget(name: string): string {
  return isTargetAlias(name) ? targetAliases[name].target : pluginAliases().get(name) ?? name;
}

/** Every target name `target:` accepts, built-ins first. */
export function targetNames(): string[] {
  return [...builtinTargetNames, ...pluginTargets.keys()];
}

/** What `target:` and `--target` accept: a target or an alias of one. */
export function targetInputNames(): string[] {
  return [...builtinTargetNames, ...Object.keys(targetAliases), ...pluginTargets.keys(), ...pluginAliases().keys()];
}

export const shellProvisionerSchema = z.object({
  type: z.literal('shell').describe('Runs a script in the guest.'),
  name: z.string().optional(),
  inline: z.union([z.string(), z.array(z.string())]).optional(),
  path: z.string().optional().describe('A script on the host, relative to the Boxfile.'),
  args: z.array(z.string()).optional(),
  env: z.record(z.string().regex(ENV_NAME, 'expected an environment variable name (letters, digits and _, not starting with a digit)'), z.string()).optional(),
  privileged: z.boolean().optional().describe('Run with sudo (default true).'),
}).strict();

export const fileProvisionerSchema = z.object({
  type: z.literal('file').describe('Uploads a file or folder to the guest.'),
  name: z.string().optional(),
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

export const syncedFolderSchema = z.object({
  source: z.string().describe('Folder on the host, relative to the Boxfile.'),
  destination: z.string().refine((p) => p.startsWith('/'), 'must be an absolute path in the guest, such as /srv/app').describe('Absolute path in the guest.'),
  type: z.enum(['rsync']).optional().describe('How the folder is synced (rsync over SSH).'),
  exclude: z.array(z.string()).optional().describe('rsync exclude patterns.'),
}).strict();

export const privateNetworkSchema = z.object({
  type: z.literal('private').describe('A network only this project\'s machines share (qemu target).'),
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

// Names go into folder names, QEMU/VirtualBox VM names and cloud tags (`box-PROJECT-MACHINE`):
// 63 characters keeps all of them within their limits.
export const machineNameSchema = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/i, 'expected a machine name of letters, digits, dash or underscore, at most 63 characters');

function buildSchemas() {
  const targetInputSchema = z.enum(targetInputNames() as [string, ...string[]]);
  const targetsSchema = z.object({
    qemu: qemuSettingsSchema.optional(),
    virtualbox: virtualboxSettingsSchema.optional(),
    aws: awsSettingsSchema.optional(),
    ...Object.fromEntries([...pluginTargets.values()].map((t) => [t.name, t.settings.optional()])),
  }).strict();
  const provisionerSchema = buildProvisionerSchema();
  /** What a machine can override (and what an environment overlay may set). */
  const machineSettingsShape = {
    basebox: z.string().min(1).optional().describe('Store name with an optional version constraint (debian-12@>= 1.0, < 2), a path to a .box, or a URL. Optional for an aws machine whose targets.aws.ami or ami_filter names its image.'),
    basebox_url: z.string().optional().describe('Where to fetch the basebox (a .box or catalog JSON) when it is not in the store.'),
    target: targetInputSchema.optional().describe('Where machines run: qemu (default), virtualbox or aws; kvm is qemu with KVM required, libvirt another name for qemu. --target overrides it.'),
    targets: targetsSchema.optional().describe('Settings per target; only the chosen target\'s settings are used.'),
    provisioners: z.array(provisionerSchema).optional().describe('Run in order on `box up` (first boot) and `box provision`. Lists from outer layers run first.'),
    forwarded_ports: z.array(forwardedPortSchema).optional().describe('Host ports forwarded to guest ports; host ports must be unique per machine.'),
    synced_folders: z.array(syncedFolderSchema).optional().describe('Host folders copied into the guest.'),
    ssh: sshSettingsSchema.optional().describe('How box reaches the guest over SSH.'),
    networks: z.array(privateNetworkSchema).max(1).optional().describe('A second interface on the project\'s private network; every machine on it is named in the others\' /etc/hosts.'),
    hostname: z.string().refine(isHostName, 'must be a host name (RFC 1123): dot-separated labels of letters, digits and hyphens, each 1-63 characters, not starting or ending with a hyphen, 253 characters in all, not an IP address').optional().describe('Host name set in the guest at `up` (/etc/hostname, the 127.0.1.1 line of /etc/hosts), e.g. web-1 or web-1.example.test.'),
  };

  const machineSettingsSchema = z.object(machineSettingsShape).strict();

  const environmentSchema = z.object({
    ...machineSettingsShape,
    machines: z.record(machineNameSchema, machineSettingsSchema.nullable()).optional().describe('Per-machine settings for this environment (an empty entry changes nothing).'),
  }).strict();

  const boxfileSchema = z.object({
    version: z.literal(1).optional().describe('Boxfile format version (1).'),
    name: z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/i, 'expected letters, digits, dot, dash or underscore, at most 63 characters').optional().describe('Project name (default: the folder name); used in tags and the machine index.'),
    ...machineSettingsShape,
    machines: z.record(machineNameSchema, machineSettingsSchema.nullable()).optional().describe('Machines of a multi-machine project (web, app, db): name → settings that override the top level (an empty entry, `web:`, uses them as they are).'),
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

function rebuild(): void {
  ({targetInputSchema, targetsSchema, provisionerSchema, machineSettingsShape, machineSettingsSchema, environmentSchema, boxfileSchema, userConfigSchema} = buildSchemas());
}

/** Adds a plug-in target to the Boxfile: `target: NAME`, `targets.NAME` settings, its aliases. */
export function registerBoxfileTarget(plugin: BoxfileTargetPlugin): void {
  pluginTargets.set(plugin.name, plugin);
  rebuild();
}

/** Adds a plug-in provisioner's schema (and its host paths) to the Boxfile. */
export function registerBoxfileProvisioner(plugin: BoxfileProvisionerPlugin): void {
  // shell and file are in the schema already (their registry entries name the same schemas).
  if (plugin.type === 'shell' || plugin.type === 'file') return;
  pluginProvisioners.set(plugin.type, plugin);
  rebuild();
}

export function boxfileProvisionerPlugin(type: string): BoxfileProvisionerPlugin | undefined {
  return pluginProvisioners.get(type);
}

export function isPluginTarget(name: string): boolean {
  return pluginTargets.has(name);
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
export type ForwardedPort = z.output<typeof forwardedPortSchema>;
export type PrivateNetwork = z.output<typeof privateNetworkSchema>;
export type AwsSettings = z.output<typeof awsSettingsSchema>;
export type BlockDeviceMapping = z.output<typeof blockDeviceSchema>;
