import os from 'node:os';
import {CreateTagsCommand, type EC2Client, type Tag, type TagSpecification, type ResourceType} from '@aws-sdk/client-ec2';
import {awsCall} from './errors.js';

/** Tag keys box puts on everything it creates, so `box sweep` can find leaks after crashes. */
export const TAG = {
  project: 'box:project',
  machine: 'box:machine',
  /** Absolute project folder on the host that made it: where its state.json lives. */
  root: 'box:root',
  /** Host name of the machine that created it: sweep only touches this host's resources by default. */
  host: 'box:host',
  /** Random token recorded before RunInstances: finds an instance whose id was never recorded. */
  token: 'box:token',
  /** Set on AMIs/snapshots/temporary resources of `box build --target aws`. */
  bake: 'box:bake',
  /** Set on a baked AMI once it is available: a finished product, which sweep keeps by default. */
  complete: 'box:complete',
  /** On import/export tasks: the id of the `box image push|pull` record that started them. */
  transfer: 'box:transfer',
  /** On the EBS snapshots of a `box snapshot` (with the machine's box:token): its NAME, and the device of the volume. */
  snapshot: 'box:snapshot',
  device: 'box:device',
} as const;

export interface Owner {
  project: string;
  machine: string;
  root: string;
}

export function boxTags(owner: Owner, name: string, extra: Record<string, string> = {}): Tag[] {
  const tags: Record<string, string> = {
    ...extra,
    Name: name,
    [TAG.project]: owner.project,
    [TAG.machine]: owner.machine,
    [TAG.root]: owner.root,
    [TAG.host]: os.hostname(),
  };
  return Object.entries(tags).map(([Key, Value]) => ({Key, Value}));
}

export function tagSpec(resourceTypes: ResourceType[], tags: Tag[]): TagSpecification[] {
  return resourceTypes.map((ResourceType) => ({ResourceType, Tags: tags}));
}

export function tagValue(tags: Tag[] | undefined, key: string): string | undefined {
  return tags?.find((t) => t.Key === key)?.Value;
}

/** CreateTags on resources that exist already (an imported AMI, a bake's snapshots). */
export async function tagResources(client: EC2Client, resources: string[], tags: Tag[], region: string): Promise<void> {
  await awsCall({action: 'CreateTags', region}, () => client.send(new CreateTagsCommand({Resources: resources, Tags: tags})));
}
