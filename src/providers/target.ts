import type {Project} from '../boxfile/project.js';
import type {BoxfileTargetPlugin, SyncedFolderType, TargetAliasSpec} from '../boxfile/schema.js';
import type {z} from 'zod';
import type {Provider} from './provider.js';

/** One line of `box doctor`: a tool or setting, whether it is fine, and how to fix it. */
export interface Check {
  name: string;
  ok: boolean;
  /** What was found (a version, a path) or why it failed. */
  detail: string;
  /** How to fix it when not ok. */
  hint?: string;
}

export interface TargetReport {
  target: string;
  usable: boolean;
  /** One line: why usable or not. */
  summary: string;
  checks: Check[];
}

/** What box implements for a target (not what the hypervisor could do). */
export interface TargetFeatures {
  /** Machines share the box's disk copy-on-write instead of copying it. */
  linkedClones: boolean;
  snapshots: boolean;
  privateNetwork: boolean;
  suspend: boolean;
  /** The `synced_folders[].type`s its provider implements (absent: rsync only). */
  syncedFolderTypes?: readonly SyncedFolderType[];
  /** The `cloud_init` keys its provider hands to the guest (absent: none; `user_data` is `cloud_init.user_data`). */
  cloudInit?: ReadonlyArray<'user_data' | 'meta_data' | 'network_config'>;
}

/**
 * Everything box knows about a target, in the target's own folder: registered in
 * providers/registry.ts (built-ins) or with registerTarget (plug-ins, tests). Loading a
 * descriptor must stay cheap: the provider and the doctor checks load on first use.
 */
export interface TargetDescriptor {
  readonly name: string;
  /** Other names `target:` and `--target` accept for it (kvm, libvirt for qemu), with what they force. */
  readonly aliases: ReadonlyArray<string | TargetAliasSpec>;
  /** Its `targets.<name>` settings, added to the Boxfile (with the name and aliases) when it registers. */
  readonly settingsSchema: z.AnyZodObject;
  /**
   * The rest of its Boxfile side (defaults, typed resolution, files, basebox rule; see
   * BoxfileTargetPlugin), from its folder's settings.ts. A plug-in without it gets its settings
   * as written in `MachineConfig.targetSettings`.
   */
  readonly boxfile?: Omit<BoxfileTargetPlugin, 'name' | 'settings' | 'aliases' | 'module'>;
  /**
   * A module whose import registers this target, for the Boxfile worker thread (Boxfiles over
   * 64 KiB load there, and registrations do not cross threads). Built-ins: the registry.
   */
  readonly module?: string;
  /** `box build --target`: what a box built for this target is (absent: box does not build for it). */
  readonly build?: {describe: string};
  /** The Vagrant provider name of its boxes in the store and in metadata.json (qemu: libvirt). */
  readonly vagrantProvider: string;
  readonly features: TargetFeatures;
  /**
   * What `box up` refuses in its machines' settings before creating anything (and `box
   * validate` with it): throws for all of them at once, naming Boxfile positions.
   */
  checkSettings?(project: Project): Promise<void>;
  /** `box doctor`: is the target usable here, with the project's settings when there is one. */
  doctor(project?: Project): Promise<TargetReport>;
  createProvider(): Promise<Provider>;
  /** Removes what killed runs left outside machine folders; returns the paths removed. */
  removeLeftovers?(): Promise<string[]>;
}
