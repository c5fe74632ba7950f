export {MAX_VERSION_LENGTH, storedVersionProblem} from './version.js';

/**
 * The rules for the three parts of a store path (`boxes/<name>/<version>/<provider>`). One set
 * of rules for every source: the command line, a Boxfile, a catalog and metadata.json, because
 * each of them ends up as a folder name under the store and must not leave it (`..`) or exceed
 * what a file system takes (255 bytes per name; "/" becomes the 14-byte -VAGRANTSLASH-).
 */

/** Longest box name, "org/name" counted whole: far above any real one, far below 255 bytes. */
export const MAX_BOX_NAME_LENGTH = 128;
/** Longest provider name (libvirt, virtualbox, vmware_desktop...). */
export const MAX_PROVIDER_LENGTH = 64;

/** A box name's shape: `name` or `org/name`. */
export const BOX_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*(\/[A-Za-z0-9][A-Za-z0-9._-]*)?$/;
const PROVIDER_RE = /^[A-Za-z0-9][A-Za-z0-9_-]*$/;

/** Why `name` cannot be a box name, or undefined when it can. */
export function boxNameProblem(name: string): string | undefined {
  if (name.length > MAX_BOX_NAME_LENGTH) return `is ${name.length} characters long (at most ${MAX_BOX_NAME_LENGTH})`;
  if (!BOX_NAME_PATTERN.test(name)) return 'must be letters, digits, dot, dash and underscore, starting with a letter or digit, with at most one "/" (org/name)';
  return undefined;
}

/** Why `provider` cannot be a provider folder, or undefined when it can. */
export function providerProblem(provider: string): string | undefined {
  if (provider.length > MAX_PROVIDER_LENGTH) return `is ${provider.length} characters long (at most ${MAX_PROVIDER_LENGTH})`;
  if (!PROVIDER_RE.test(provider)) return 'must be letters, digits, dash and underscore (e.g. libvirt, virtualbox)';
  return undefined;
}
