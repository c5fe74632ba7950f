import {paginateDescribeExportImageTasks, paginateDescribeImportImageTasks, type EC2Client} from '@aws-sdk/client-ec2';
import {awsCall} from './errors.js';
import {allPages} from './paginate.js';
import {TAG, tagValue} from './tags.js';
import type {TransferRecord} from './transfer-records.js';

/**
 * The import/export task a transfer started, found by the `box:transfer` tag it was created
 * with: for a record that holds the intent (client token) but not the task id, because the
 * process died, or the answer was lost, during ImportImage/ExportImage.
 */
export async function findTransferTask(ec2: EC2Client, record: TransferRecord): Promise<string | undefined> {
  const mine = (tags: Parameters<typeof tagValue>[0]) => tagValue(tags, TAG.transfer) === record.id;
  if (record.kind === 'push') {
    const tasks = await awsCall({action: 'DescribeImportImageTasks', region: record.region}, () => allPages(paginateDescribeImportImageTasks({client: ec2}, {}), (p) => p.ImportImageTasks));
    return tasks.find((t) => mine(t.Tags))?.ImportTaskId;
  }
  const tasks = await awsCall({action: 'DescribeExportImageTasks', region: record.region}, () => allPages(paginateDescribeExportImageTasks({client: ec2}, {}), (p) => p.ExportImageTasks));
  return tasks.find((t) => mine(t.Tags))?.ExportImageTaskId;
}

