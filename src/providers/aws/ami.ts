import {DescribeImagesCommand, paginateDescribeImages, type EC2Client, type Image} from '@aws-sdk/client-ec2';
import type {MachineConfig} from '../../boxfile/project.js';
import {BoxError} from '../../core/errors.js';
import type {Ui} from '../../core/ui.js';
import {resolveBasebox} from '../../boxes/resolve.js';
import {awsCall} from './errors.js';
import {allPages} from './paginate.js';

export interface ResolvedAmi {
  ami: string;
  /** How it was chosen, for messages: "targets.aws.ami", "ami_filter ...", "box debian-12 1.0.0". */
  source: string;
  box?: {name: string; version: string; provider: string; dir: string};
}

/**
 * Which AMI a machine boots, in order: `targets.aws.ami`; `ami_filter` (newest image of that owner
 * whose name matches); the basebox's `{"provider": "aws", "amis": {region: ami}}` metadata.
 */
export async function resolveAmi(client: EC2Client, machine: MachineConfig, region: string, options: {ui: Ui; signal: AbortSignal}): Promise<ResolvedAmi> {
  const aws = machine.aws;
  if (aws.ami) return {ami: await checkAmi(client, aws.ami, region, options.signal), source: 'targets.aws.ami'};
  if (aws.ami_filter) {
    const newest = await newestAmiMatching(client, aws.ami_filter, region, options.signal);
    return {ami: newest.ImageId!, source: `ami_filter ${aws.ami_filter.owner}/${aws.ami_filter.name} → ${newest.Name ?? newest.ImageId}`};
  }
  const box = await resolveBasebox(machine.basebox, {provider: 'aws', ui: options.ui, signal: options.signal});
  const amis = (box.metadata as {amis?: Record<string, string>}).amis ?? {};
  const ami = amis[region];
  if (!ami) {
    const known = Object.keys(amis);
    throw new BoxError('ERR_AWS_AMI_REGION', `Box ${box.name} ${box.version} has no AMI for region ${region}${known.length ? ` (it has: ${known.join(', ')})` : ''}.`, {
      hint: known.length ? `Use one of those regions in targets.aws.region, copy the AMI (\`aws ec2 copy-image --source-region ${known[0]} --region ${region}\`), or set targets.aws.ami.` : 'Set targets.aws.ami or targets.aws.ami_filter, or bake one with `box build TEMPLATE --target aws`.',
    });
  }
  await checkAmi(client, ami, region, options.signal);
  return {ami, source: `box ${box.name} ${box.version}`, box: {name: box.name, version: box.version, provider: box.provider, dir: box.dir}};
}

/**
 * Fails early, before a key pair or group is made, when the AMI does not exist in the region
 * (RunInstances would fail the same way, only later).
 */
export async function checkAmi(client: EC2Client, ami: string, region: string, signal?: AbortSignal): Promise<string> {
  const out = await awsCall({action: 'DescribeImages', region, ami}, () => client.send(new DescribeImagesCommand({ImageIds: [ami]}), {abortSignal: signal}));
  const image = out.Images?.find((i) => i.ImageId === ami);
  if (!image || (image.State && !['available', 'pending'].includes(image.State))) {
    throw new BoxError('ERR_AWS_AMI_NOT_FOUND', `AMI "${ami}" does not exist in ${region}${image?.State ? ` (it is ${image.State})` : ''} or is not available to this account.`, {
      hint: 'AMI ids are per region: check `targets.aws.ami` / `targets.aws.region`, or use `ami_filter` to pick the newest image by owner and name.',
    });
  }
  return ami;
}

/** `ami_filter`: the newest available image of that owner whose name matches (`*` wildcards). */
export async function newestAmiMatching(client: EC2Client, filter: {owner: string; name: string}, region: string, signal?: AbortSignal): Promise<Image> {
  const {owner, name} = filter;
  // Every page: the newest image may be on any of them (EC2 does not sort by date).
  const images = await awsCall({action: 'DescribeImages', region}, () => allPages(paginateDescribeImages({client}, {
    Owners: [owner],
    Filters: [{Name: 'name', Values: [name]}, {Name: 'state', Values: ['available']}],
  }), (p) => p.Images, signal));
  const newest = [...images].sort((a, b) => String(b.CreationDate ?? '').localeCompare(String(a.CreationDate ?? '')))[0];
  if (!newest?.ImageId) {
    throw new BoxError('ERR_AWS_AMI_NOT_FOUND', `No available AMI of owner "${owner}" matches name "${name}" in ${region} (targets.aws.ami_filter).`, {
      hint: 'Check the owner (an account id, or amazon/aws-marketplace/self) and the name pattern (`*` matches anything), or the region.',
    });
  }
  return newest;
}
