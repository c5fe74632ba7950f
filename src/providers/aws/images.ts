import {DeleteSnapshotCommand, DeregisterImageCommand, type EC2Client, type Image} from '@aws-sdk/client-ec2';
import {awsErrorCode, mapAwsError} from './errors.js';

/** The EBS snapshots an image is made of (a deregistered AMI's snapshots are kept, and billed). */
export function snapshotsOf(image: Image | undefined): string[] {
  return image?.BlockDeviceMappings?.map((b) => b.Ebs?.SnapshotId).filter((x): x is string => Boolean(x)) ?? [];
}

/** DeregisterImage; an image already gone is fine. */
export async function deregisterImage(client: EC2Client, imageId: string | undefined, region: string): Promise<void> {
  try {
    await client.send(new DeregisterImageCommand({ImageId: imageId}));
  } catch (error) {
    if (!/NotFound/.test(awsErrorCode(error) ?? '')) throw mapAwsError(error, {action: 'DeregisterImage', region});
  }
}

/** DeleteSnapshot; a snapshot already gone is fine. */
export async function deleteSnapshot(client: EC2Client, snapshotId: string, region: string): Promise<void> {
  try {
    await client.send(new DeleteSnapshotCommand({SnapshotId: snapshotId}));
  } catch (error) {
    if (!/NotFound/.test(awsErrorCode(error) ?? '')) throw mapAwsError(error, {action: 'DeleteSnapshot', region});
  }
}

/** Deregisters an image and deletes its snapshots. */
export async function removeImage(client: EC2Client, image: Image, region: string): Promise<void> {
  await deregisterImage(client, image.ImageId, region);
  for (const snapshot of snapshotsOf(image)) await deleteSnapshot(client, snapshot, region);
}
