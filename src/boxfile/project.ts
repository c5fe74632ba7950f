import type {ForwardedPort, HookConfig, HookEvent, PrivateNetwork, ProvisionerConfig, SyncedFolderType, TargetName} from './schema.js';

/**
 * The resolved, typed view of a Boxfile that services and providers work with: one
 * MachineConfig per machine, with defaults filled, sizes normalised and paths absolute.
 */
export interface BaseboxRef {
  /** The original text from the Boxfile, for messages. */
  raw: string;
  kind: 'store' | 'file' | 'url';
  /** Store name (kind 'store'), absolute path (kind 'file') or URL (kind 'url'). */
  name: string;
  /** Vagrant-style constraint from `name@constraint`, e.g. ">= 1.0, < 2" (see src/boxes/version.ts). */
  versionConstraint?: string;
  /** Where to fetch the box (a .box or catalog) if it is not in the store. */
  url?: string;
}

/**
 * The typed, resolved `targets.<name>` settings of every target that resolves its own (see
 * BoxfileTargetPlugin.resolve): each target's folder adds its field with `declare module`
 * (qemu: QemuConfig, virtualbox: VirtualboxConfig, aws: AwsSettings). Every machine has all of
 * them, whichever target it runs on (project-wide commands read the aws settings of any machine).
 */
export interface TargetConfigs {}

export interface SshConfig {
  username: string;
  /** An explicit key; otherwise the per-machine key, or Vagrant's insecure key on first boot. */
  privateKeyPath?: string;
  port: number;
  timeoutSeconds: number;
  insertKey: boolean;
}

export interface CiTest {
  name: string;
  run: string;
  privileged: boolean;
}

/** A `synced_folders` entry, resolved: the source absolute, defaults filled where they do not depend on the guest. */
export interface SyncedFolder {
  /** Absolute folder on the host. */
  source: string;
  /** Absolute path in the guest. */
  destination: string;
  type: SyncedFolderType;
  /** rsync exclude patterns as written (the project's .box/ is added when the folder is copied). */
  exclude: string[];
  /** Leave out what the .gitignore files ignore. */
  gitignore: boolean;
  /** Guest user and group of the copied files; absent: the SSH user and the owner's primary group (asked in the guest). */
  owner?: string;
  group?: string;
}

/** A text the Boxfile gives inline or as a host file (absolute once resolved). */
export type TextSource = {inline: string} | {path: string};

/** `user_data` / `cloud_init`, resolved. */
export interface CloudInitConfig {
  userData?: TextSource;
  /** Extra meta-data keys (box adds instance-id and local-hostname unless they are here). */
  metaData?: Record<string, string | number | boolean>;
  networkConfig?: TextSource;
  /** The Boxfile keys that set user-data (`user_data`, `cloud_init.user_data`, `targets.aws.user_data`): more than one is refused. */
  userDataSetAt: string[][];
}

export interface MachineConfig extends TargetConfigs {
  name: string;
  /** Absent only for an aws machine whose targets.aws.ami or ami_filter names its image. */
  basebox?: BaseboxRef;
  target: TargetName;
  /** The name the Boxfile or --target used when it was an alias of the target (kvm, libvirt). */
  targetAlias?: string;
  hostname?: string;
  /** cloud-init data (`user_data`, `cloud_init`), absent when the Boxfile gives none. */
  cloudInit?: CloudInitConfig;
  /** Machines to bring up before this one (`depends_on`), checked to name machines, with no cycle. */
  dependsOn?: string[];
  /** What the machine is in the cluster map (`roles`; default: its name). */
  roles?: string[];
  /** Lifecycle hooks per event, outer layers first (absent: none). */
  hooks?: Partial<Record<HookEvent, HookConfig[]>>;
  /** The chosen target's `targets.<name>` settings as written, when the target does not resolve its own (see TargetConfigs). */
  targetSettings?: Record<string, unknown>;
  provisioners: ProvisionerConfig[];
  forwardedPorts: Array<Required<Pick<ForwardedPort, 'guest' | 'host'>> & {protocol: 'tcp' | 'udp'; hostIp: string}>;
  syncedFolders: SyncedFolder[];
  ssh: SshConfig;
  /** `tests`: what `box ci` runs in the guest, one JUnit test case each. */
  tests: CiTest[];
  /** `artifacts`: guest paths or globs `box ci` copies back after the tests. */
  artifacts: string[];
  /** `networks`: the project's private network, with the address written in the Boxfile if any (at most one). */
  networks: PrivateNetwork[];
  /**
   * The settings (dotted Boxfile paths: `ssh.username`, `targets.qemu.memory`) that the user's
   * layers set, as opposed to built-in defaults: a box's own Vagrantfile may change only the
   * others (Vagrant loads the box's Vagrantfile before the user's).
   */
  setByUser?: string[];
}

export interface Project {
  /**
   * The project's identity and state root (`.box/` lives here): the Boxfile's folder, or for an
   * instance (`box ci`, --instance ID) `<Boxfile folder>/.box/instances/<ID>`. Host files the
   * Boxfile names resolve against the Boxfile's folder (path.dirname(boxfilePath)) either way.
   */
  root: string;
  /** The instance id when the project was loaded as one (--instance / BOX_INSTANCE). */
  instance?: string;
  boxfilePath: string;
  /** Project name: Boxfile `name`, else the folder name; `<name>-<instance>` for an instance. */
  name: string;
  environment?: string;
  machines: MachineConfig[];
}
