import {randomUUID} from 'node:crypto';
import {rm} from 'node:fs/promises';
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

/** What a target records of a machine's seed. */
export interface CloudInitSeedRecord {
  /** cloud-init's instance-id, chosen at the first boot with cloud-init data and kept until destroy. */
  cloudInitInstanceId?: string;
  /** The seed ISO attached at the last boot. */
  cloudInitSeed?: string;
}

/**
 * Before a boot, on every target that attaches a seed: the seed made again under the machine's
 * one instance-id, and recorded; or, when the Boxfile dropped its cloud-init data, the seed of
 * an earlier boot removed and its record dropped (`release` first lets the target let go of
 * it). `save` applies a change to the target's record. Returns the seed's path, if any.
 */
export async function refreshCloudInitSeed(
  machine: MachineConfig, dir: string, recorded: CloudInitSeedRecord,
  save: (change: (r: CloudInitSeedRecord) => void) => Promise<void>, release?: (seed: string) => Promise<void>,
): Promise<string | undefined> {
  const instanceId = recorded.cloudInitInstanceId ?? newInstanceId(machine.name);
  const seed = await writeCloudInitSeed(machine, dir, instanceId);
  if (seed) {
    await save((r) => { r.cloudInitInstanceId = instanceId; r.cloudInitSeed = seed; });
  } else if (recorded.cloudInitSeed) {
    await release?.(recorded.cloudInitSeed);
    await rm(path.join(dir, cloudInitSeedFile), {force: true});
    await save((r) => { delete r.cloudInitSeed; });
  }
  return seed;
}
