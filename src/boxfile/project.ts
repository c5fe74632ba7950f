import type {AwsSettings, ForwardedPort, PrivateNetwork, ProvisionerConfig, TargetAlias, TargetName} from './schema.js';

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

export interface QemuConfig {
  cpus: number;
  memoryMiB: number;
  diskGiB: number;
  accel: 'auto' | 'kvm' | 'tcg';
  /** Who asked for `accel: kvm` (named when KVM does not work): "target: kvm", "--target kvm"... */
  kvmRequiredBy?: string;
  machineType: string;
  extraArgs: string[];
  binary: string;
}

export interface VirtualboxConfig {
  cpus: number;
  memoryMiB: number;
  linkedClone: boolean;
  gui: boolean;
}

export interface SshConfig {
  username: string;
  /** An explicit key; otherwise the per-machine key, or Vagrant's insecure key on first boot. */
  privateKeyPath?: string;
  port: number;
  timeoutSeconds: number;
  insertKey: boolean;
}

export interface MachineConfig {
  name: string;
  /** Absent only for an aws machine whose targets.aws.ami or ami_filter names its image. */
  basebox?: BaseboxRef;
  target: TargetName;
  /** The name the Boxfile or --target used when it was an alias of the target (kvm, libvirt). */
  targetAlias?: TargetAlias;
  hostname?: string;
  qemu: QemuConfig;
  virtualbox: VirtualboxConfig;
  aws: AwsSettings;
  /** A plug-in target's `targets.<name>` settings as written (built-in targets have theirs above). */
  targetSettings?: Record<string, unknown>;
  provisioners: ProvisionerConfig[];
  forwardedPorts: Array<Required<Pick<ForwardedPort, 'guest' | 'host'>> & {protocol: 'tcp' | 'udp'; hostIp: string}>;
  syncedFolders: Array<{source: string; destination: string; type: 'rsync'; exclude: string[]}>;
  ssh: SshConfig;
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
  /** Folder holding the Boxfile; `.box/` state lives here. */
  root: string;
  boxfilePath: string;
  /** Project name: Boxfile `name`, else the folder name. */
  name: string;
  environment?: string;
  machines: MachineConfig[];
}
