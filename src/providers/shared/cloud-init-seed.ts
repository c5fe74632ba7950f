import {randomUUID} from 'node:crypto';
import path from 'node:path';
import type {MachineConfig} from '../../boxfile/project.js';
import {makeIsoImage} from '../../core/iso-image.js';
import {cloudInitSeedFiles} from './cloud-init.js';

/** The seed's file name in the machine folder (qemu and virtualbox attach it as a CD/DVD). */
export const cloudInitSeedFile = 'cidata.iso';

/** A new cloud-init instance-id for a created machine (cloud-init runs its per-instance modules once per id). */
export function newInstanceId(machine: string): string {
  return `box-${machine}-${randomUUID()}`;
}

/**
 * Writes the machine's NoCloud seed into its folder: an ISO9660 volume labelled `cidata` with
 * user-data, meta-data and network-config (cloud-init's NoCloud datasource finds it by that
 * label, as Lima and cloud-localds do); qemu attaches it as a CD, virtualbox as a DVD. Made again
 * at every boot, so an edited user_data is on the CD (cloud-init applies it again only under a
 * new instance-id). Returns its path, or undefined when the machine has no cloud-init data.
 */
export async function writeCloudInitSeed(machine: MachineConfig, dir: string, instanceId: string): Promise<string | undefined> {
  const files = await cloudInitSeedFiles(machine, instanceId);
  if (!files) return undefined;
  const out = path.join(dir, cloudInitSeedFile);
  return makeIsoImage(Object.entries(files).map(([name, content]) => ({name, content: content as Buffer})), out, 'cidata', 'ERR_CLOUD_INIT_SEED');
}
