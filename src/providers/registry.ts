// OWNER: qemu helper (aws helper adds its entry). Maps a target name to its provider.
import type {TargetName} from '../boxfile/schema.js';
import {BoxError} from '../core/errors.js';
import type {Provider} from './provider.js';

const factories: Partial<Record<TargetName, () => Promise<Provider>>> = {
  // Loaded lazily so `box status` of a qemu project never loads the AWS SDK and vice versa.
  qemu: async () => (await import('./qemu/qemu-provider.js')).createQemuProvider(),
  virtualbox: async () => (await import('./virtualbox/virtualbox-provider.js')).createVirtualboxProvider(),
  aws: async () => (await import('./aws/aws-provider.js')).createAwsProvider(),
};

export function registerProvider(name: TargetName, factory: () => Promise<Provider>): void {
  factories[name] = factory;
}

export async function providerFor(name: TargetName): Promise<Provider> {
  const factory = factories[name];
  if (!factory) throw new BoxError('ERR_TARGET_UNSUPPORTED', `The ${name} target is not available in this build of box.`, {hint: 'Run `box doctor` to see which targets work here.'});
  return factory();
}

/**
 * Removes what killed runs of any target left outside machine folders (aws: the work folders of
 * bakes and image transfers, with keys and disk images), and returns the paths removed.
 */
export async function removeLeftovers(): Promise<string[]> {
  return (await import('./aws/work-dirs.js')).removeDeadWorkDirs(['bake', 'push', 'pull']);
}
