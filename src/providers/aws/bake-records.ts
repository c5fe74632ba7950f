import {pidRecords} from '../../core/pid-records.js';

/**
 * A running `box build --target aws` writes `$BOX_HOME/bakes/aws/<token>.json` (with its pid)
 * before it creates anything, and removes it at the end, so `box sweep` leaves the temporary
 * instance, key and group of a bake in progress alone and removes those of a crashed one.
 */
export interface BakeRecord {
  token: string;
  pid: number;
  template: string;
  region: string;
  /** The AMI name, recorded before CreateImage: finds an image the bake made but never learnt the id of. */
  amiName?: string;
  /** Its work folder (the temporary private key), recorded before it is created. */
  workDir?: string;
  /** Kept on purpose by --on-error abort: only `box sweep` removes its folder (with its instance). */
  kept?: boolean;
  startedAt: string;
}

const bakes = pidRecords<BakeRecord>('bakes', 'aws');

export async function writeBakeRecord(record: BakeRecord): Promise<void> {
  await bakes.write(record.token, record);
}

export async function removeBakeRecord(token: string): Promise<void> {
  await bakes.remove(token);
}

/** Marks a bake's record as kept for debugging (--on-error abort). */
export async function markBakeKept(record: BakeRecord): Promise<void> {
  await bakes.write(record.token, {...record, kept: true});
}

/** Tokens of bakes whose process still runs. */
export async function liveBakeTokens(): Promise<Set<string>> {
  return new Set((await bakes.list()).filter((r) => r.alive).map((r) => r.record.token));
}

/** Records of bakes whose process is gone (killed, or crashed before its cleanup). */
export async function deadBakes(): Promise<BakeRecord[]> {
  return (await bakes.list()).filter((r) => !r.alive).map((r) => r.record);
}
