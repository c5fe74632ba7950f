import {CreateImageCommand, paginateDescribeImages, type EC2Client, type Image, type Tag} from '@aws-sdk/client-ec2';
import {BoxError} from '../../../core/errors.js';
import {awsCall, awsErrorCode, mapAwsError} from '../../../providers/aws/errors.js';
import {removeImage} from '../../../providers/aws/images.js';
import {allPages} from '../../../providers/aws/paginate.js';
import {TAG, tagValue} from '../../../providers/aws/tags.js';

/** Which bake an image belongs to: its token (tag and description) and the AMI name it asked for. */
export interface BakeImageIntent {
  client: EC2Client;
  region: string;
  token: string;
  amiName: string;
  instanceId?: string;
}

/** The description every baked AMI carries: names the bake's token, for clouds that drop tags. */
export function bakeDescription(template: string, version: string, token: string): string {
  return `box build ${template} ${version} (${token})`;
}

/**
 * Whether an image is this bake's: tagged with its token, or (on a cloud that ignored the tags)
 * of its name and made from its instance or described with its token.
 */
function isBakeImage(image: Image, intent: BakeImageIntent): boolean {
  const token = tagValue(image.Tags, TAG.token);
  if (token !== undefined) return token === intent.token;
  return image.Name === intent.amiName && ((intent.instanceId !== undefined && image.SourceInstanceId === intent.instanceId) || (image.Description ?? '').includes(intent.token));
}

/** Every image this bake made (found by its token tag, or by the AMI name it recorded before CreateImage). */
export async function imagesOfBake(intent: BakeImageIntent): Promise<Image[]> {
  const {client, region} = intent;
  const [tagged, named] = await Promise.all([
    awsCall({action: 'DescribeImages', region}, () => allPages(paginateDescribeImages({client}, {Owners: ['self'], Filters: [{Name: `tag:${TAG.token}`, Values: [intent.token]}]}), (p) => p.Images)),
    awsCall({action: 'DescribeImages', region}, () => allPages(paginateDescribeImages({client}, {Owners: ['self'], Filters: [{Name: 'name', Values: [intent.amiName]}]}), (p) => p.Images)),
  ]);
  const byId = new Map([...tagged, ...named].filter((i) => isBakeImage(i, intent)).map((i) => [i.ImageId!, i]));
  return [...byId.values()];
}

/** An API that does not take snapshot tags at CreateImage (moto answers HTTP 500; others InvalidParameter...). */
function snapshotTagsRejected(error: unknown, region: string): boolean {
  const mapped = mapAwsError(error, {action: 'CreateImage', region});
  if (mapped.code === 'ERR_AWS_UNSUPPORTED') return true;
  return /InvalidParameter|InvalidTaggableResourceType|InvalidTagKey/.test(awsErrorCode(error) ?? '') && /snapshot/i.test(mapped.message);
}

/**
 * CreateImage, tagged on creation (image AND its snapshots: `TagSpecifications`), so an AMI
 * exists only with the bake's token on it and `box sweep` can always find it. The AMI name was
 * recorded (bake record) before the call. A lost answer retried by the SDK is answered
 * InvalidAMIName.Duplicate by EC2 (names are unique): the bake then adopts its own image; on a
 * cloud without that rule it may make two, and the extra ones are removed here. Returns the
 * image id and whether the snapshots were tagged by the call.
 */
export async function createBakeImage(intent: BakeImageIntent & {description: string; tags: Tag[]}): Promise<{imageId: string; snapshotsTagged: boolean}> {
  const {client, region} = intent;
  const send = (types: Array<'image' | 'snapshot'>) => client.send(new CreateImageCommand({
    InstanceId: intent.instanceId, Name: intent.amiName, Description: intent.description,
    TagSpecifications: types.map((ResourceType) => ({ResourceType, Tags: intent.tags})),
  })); // not abandoned on Ctrl-C: the image must be known to be removed (see providers/aws/resources.ts)
  const adopt = async (error: unknown): Promise<string> => {
    if (awsErrorCode(error) !== 'InvalidAMIName.Duplicate') throw mapAwsError(error, {action: 'CreateImage', region});
    const mine = await imagesOfBake(intent);
    if (mine[0]?.ImageId) return mine[0].ImageId;
    throw new BoxError('ERR_AWS_AMI_NAME_EXISTS', `An AMI named "${intent.amiName}" already exists in ${region} and is not this bake's.`, {
      hint: 'Another bake of the same template and version started in the same second; run the build again.',
    });
  };
  let imageId: string;
  let snapshotsTagged = true;
  try {
    imageId = (await send(['image', 'snapshot'])).ImageId!;
  } catch (error) {
    if (awsErrorCode(error) === 'InvalidAMIName.Duplicate') {
      imageId = await adopt(error);
    } else if (snapshotTagsRejected(error, region)) {
      // Tag the image on creation anyway; its snapshots are tagged once the image lists them.
      snapshotsTagged = false;
      imageId = await send(['image']).then((out) => out.ImageId!, adopt);
    } else {
      throw mapAwsError(error, {action: 'CreateImage', region});
    }
  }
  for (const extra of (await imagesOfBake(intent)).filter((i) => i.ImageId !== imageId)) await removeImage(client, extra, region);
  return {imageId, snapshotsTagged};
}
