// Maps a target name to its descriptor (and so to its provider). A target is its folder plus
// one line here; plug-ins and tests add theirs with registerTarget. Built-ins and plug-ins reach
// the Boxfile (target names, `targets.*` settings, --target, the JSON Schema) the same way.
import {registerBoxProvider} from '../boxes/metadata.js';
import {inOneSchemaRebuild, registerBoxfileTarget} from '../boxfile/schema.js';
import {BoxError} from '../core/errors.js';
import {allowStateTarget} from '../core/state.js';
import {awsTarget} from './aws/descriptor.js';
import type {Provider} from './provider.js';
import {qemuTarget} from './qemu/descriptor.js';
import type {TargetDescriptor} from './target.js';
import {virtualboxTarget} from './virtualbox/descriptor.js';

const targets = new Map<string, TargetDescriptor>();

/** Adds a target, or replaces the one of the same name. */
export function registerTarget(descriptor: TargetDescriptor): void {
  targets.set(descriptor.name, descriptor);
  registerBoxfileTarget({...descriptor.boxfile, name: descriptor.name, settings: descriptor.settingsSchema, aliases: descriptor.aliases, module: descriptor.module});
  allowStateTarget(descriptor.name);
  registerBoxProvider(descriptor.vagrantProvider, descriptor.name);
}

// The first is the default target. Importing this module registers them (the Boxfile worker does).
inOneSchemaRebuild(() => {
  for (const builtin of [qemuTarget, virtualboxTarget, awsTarget]) registerTarget({...builtin, module: import.meta.url});
});

export function targetDescriptors(): TargetDescriptor[] {
  return [...targets.values()];
}

export function targetDescriptor(name: string): TargetDescriptor {
  const descriptor = targets.get(name);
  if (!descriptor) throw new BoxError('ERR_TARGET_UNSUPPORTED', `The ${name} target is not available in this build of box.`, {hint: 'Run `box doctor` to see which targets work here.'});
  return descriptor;
}

/** Replaces only how a target's provider is made (tests: an in-memory provider). */
export function registerProvider(name: string, factory: () => Promise<Provider>): void {
  registerTarget({...targetDescriptor(name), createProvider: factory});
}

// Providers are loaded on first use, so `box status` of a qemu project never loads the AWS SDK.
export async function providerFor(name: string): Promise<Provider> {
  return targetDescriptor(name).createProvider();
}

/**
 * Removes what killed runs of any target left outside machine folders (aws: the work folders of
 * bakes and image transfers, with keys and disk images), and returns the paths removed.
 */
export async function removeLeftovers(): Promise<string[]> {
  const removed = await Promise.all(targetDescriptors().map((target) => target.removeLeftovers?.() ?? []));
  return removed.flat();
}
