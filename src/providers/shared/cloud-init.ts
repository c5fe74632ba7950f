import {readFile} from 'node:fs/promises';
import {stringify} from 'yaml';
import type {MachineConfig, TextSource} from '../../boxfile/project.js';
import {UsageError} from '../../core/errors.js';

/** The files of a NoCloud seed, as cloud-init reads them (network-config only when given). */
export interface CloudInitFiles {
  'user-data': Buffer;
  'meta-data': Buffer;
  'network-config'?: Buffer;
}

/** The bytes of an inline or host-file text (a host file is sent byte for byte). */
export async function readTextSource(source: TextSource, key: string): Promise<Buffer> {
  if ('inline' in source) return Buffer.from(source.inline);
  try {
    return await readFile(source.path);
  } catch (error) {
    throw new UsageError('ERR_CONFIG', `${key}: cannot read ${source.path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, {hint: 'A one-line value without a leading # names a host file (relative to the Boxfile); write #cloud-config ... for inline user-data.'});
  }
}

/** The machine's user-data bytes (what aws sends as UserData), or undefined when the Boxfile gives none. */
export async function cloudInitUserData(machine: MachineConfig): Promise<Buffer | undefined> {
  const source = machine.cloudInit?.userData;
  return source ? readTextSource(source, 'user_data') : undefined;
}

/**
 * The NoCloud seed's files, or undefined when the machine has no cloud-init data. meta-data
 * gets an instance-id (`instanceId`: new per created machine, so cloud-init runs its
 * once-per-instance modules on the first boot of each) and local-hostname (the Boxfile's
 * hostname, else the machine name) unless `cloud_init.meta_data` sets them.
 */
export async function cloudInitSeedFiles(machine: MachineConfig, instanceId: string): Promise<CloudInitFiles | undefined> {
  const c = machine.cloudInit;
  if (!c) return undefined;
  const metaData = {'instance-id': instanceId, 'local-hostname': machine.hostname ?? machine.name, ...c.metaData};
  return {
    // NoCloud needs a user-data file even when empty.
    'user-data': c.userData ? await readTextSource(c.userData, 'user_data') : Buffer.from('#cloud-config\n{}\n'),
    'meta-data': Buffer.from(stringify(metaData)),
    ...(c.networkConfig ? {'network-config': await readTextSource(c.networkConfig, 'cloud_init.network_config')} : {}),
  };
}
