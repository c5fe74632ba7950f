/** What one rsync run did, from its `--stats` summary. */
export interface RsyncStats {
  /** Regular files sent (new or changed). */
  filesTransferred: number;
  /** Files and folders deleted in the guest because they are gone on the host. */
  filesDeleted: number;
  /** Size of the files sent. */
  bytesTransferred: number;
  /** Bytes that went over the wire (after rsync's delta transfer). */
  bytesSent: number;
}

/** A number of rsync's summary: digits with thousands separators ("10,000"). */
function statNumber(output: string, label: string): number {
  const match = new RegExp(`^${label}: ([\\d,.]+)`, 'm').exec(output);
  return match ? Number(match[1]!.replace(/[,.]/g, '')) : 0;
}

/** Reads the `--stats` block of rsync's stdout (run under LANG=C, so the labels are English). */
export function parseRsyncStats(output: string): RsyncStats {
  return {
    filesTransferred: statNumber(output, 'Number of regular files transferred'),
    filesDeleted: statNumber(output, 'Number of deleted files'),
    bytesTransferred: statNumber(output, 'Total transferred file size'),
    bytesSent: statNumber(output, 'Total bytes sent'),
  };
}
