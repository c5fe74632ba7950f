import {mkdir, readdir, rm} from 'node:fs/promises';
import path from 'node:path';
import {readJson, writeJsonAtomic} from '../core/fs-json.js';
import {boxHome} from '../core/paths.js';
import {processAlive} from './aws-bake-records.js';

/**
 * `box image push|pull` write `$BOX_HOME/transfers/aws/<id>.json` (with their pid) before they
 * upload to S3 or start an import/export task, and fill in the task id as soon as EC2 returns
 * it. A push or pull killed before its own cleanup leaves this trail, and `box sweep` deletes
 * the S3 object and cancels the task of every record whose process is gone.
 */
export interface TransferRecord {
  id: string;
  pid: number;
  kind: 'push' | 'pull';
  region: string;
  bucket: string;
  /** The S3 object (for a pull, known once the export task exists). */
  key?: string;
  importTaskId?: string;
  exportTaskId?: string;
  startedAt: string;
}

function transfersDir(): string {
  return path.join(boxHome(), 'transfers', 'aws');
}

export async function writeTransferRecord(record: TransferRecord): Promise<void> {
  await mkdir(transfersDir(), {recursive: true});
  await writeJsonAtomic(path.join(transfersDir(), `${record.id}.json`), record);
}

export async function removeTransferRecord(id: string): Promise<void> {
  await rm(path.join(transfersDir(), `${id}.json`), {force: true});
}

/** Records of transfers whose process no longer runs: what they made is nobody's. */
export async function deadTransfers(): Promise<TransferRecord[]> {
  const out: TransferRecord[] = [];
  for (const file of await readdir(transfersDir()).catch(() => [] as string[])) {
    const record = await readJson<TransferRecord | undefined>(path.join(transfersDir(), file), undefined).catch(() => undefined);
    if (record && !processAlive(record.pid)) out.push(record);
  }
  return out;
}
