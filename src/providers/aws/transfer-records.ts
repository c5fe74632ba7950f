import {BoxError} from '../../core/errors.js';
import {pidRecords} from '../../core/pid-records.js';

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
  /** A pull's S3 prefix: the export writes `<prefix><task id>.vmdk`. */
  prefix?: string;
  /** Its work folder in the temp dir (the disk image), recorded before it is created. */
  workDir?: string;
  /** ClientToken of the ImportImage/ExportImage call, recorded BEFORE it: finds (and cancels) a task whose id never came back. */
  clientToken?: string;
  importTaskId?: string;
  exportTaskId?: string;
  startedAt: string;
}

const transfers = pidRecords<TransferRecord>('transfers', 'aws');

export async function writeTransferRecord(record: TransferRecord): Promise<void> {
  await transfers.write(record.id, record);
}

export async function removeTransferRecord(id: string): Promise<void> {
  await transfers.remove(id);
}

/** Records of transfers whose process no longer runs: what they made is nobody's. */
export async function deadTransfers(): Promise<TransferRecord[]> {
  return (await transfers.list()).filter((r) => !r.alive).map((r) => r.record);
}

/**
 * Whether a failed ImportImage/ExportImage may still have started a task (its answer lost, or
 * box interrupted during the call), rather than been refused: the record must then stay.
 */
export function taskMayHaveStarted(error: unknown): boolean {
  return !(error instanceof BoxError) || ['ERR_INTERRUPTED', 'ERR_AWS_UNREACHABLE', 'ERR_AWS_API'].includes(error.code);
}
