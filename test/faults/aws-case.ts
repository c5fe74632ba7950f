import {
  DeleteKeyPairCommand, DeleteSecurityGroupCommand, DeleteSnapshotCommand, DeleteVolumeCommand, DeregisterImageCommand, DescribeAddressesCommand, DescribeImagesCommand,
  DescribeInstancesCommand, DescribeKeyPairsCommand, DescribeSecurityGroupsCommand, DescribeSnapshotsCommand, DescribeVolumesCommand, EC2Client, ReleaseAddressCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import {DUMMY_ACCESS_KEY, DUMMY_SECRET, type Moto} from '../helpers/moto.js';
import {Sandbox} from './harness.js';
import {snapshotCloud} from './leaks.js';
import {fakeSshEnv} from '../helpers/fake-ssh.js';

/**
 * Cases against one moto emulator that run side by side: each gets a region of its own (moto
 * keeps regions apart, and every box command of the case uses it through AWS_REGION), so a
 * case's cloud leak check sees only what that case made, and a sandbox of its own.
 */
export interface AwsCase {
  sandbox: Sandbox;
  region: string;
  ec2: EC2Client;
  /** Asserts that nothing is left, here or in the case's region (see leaks.ts); `allow`: files or "type id" cloud resources that may stay. */
  clean(context: string, allow?: RegExp[]): Promise<void>;
}

const REGIONS = ['us-east-1', 'us-east-2', 'us-west-1', 'us-west-2', 'eu-west-1', 'eu-west-2', 'eu-central-1', 'ap-southeast-1', 'ap-southeast-2', 'ap-northeast-1', 'ca-central-1', 'sa-east-1'];
const HOME_CACHES = [/\/home\/machines\.json$/];

/** Deletes every resource of a region (after a failed case: box's own cleanup may be what failed). */
export async function removeEverything(ec2: EC2Client): Promise<void> {
  const ignore = () => undefined;
  const instances = ((await ec2.send(new DescribeInstancesCommand({}))).Reservations ?? []).flatMap((r) => r.Instances ?? []).map((i) => i.InstanceId!).filter(Boolean);
  if (instances.length > 0) await ec2.send(new TerminateInstancesCommand({InstanceIds: instances})).catch(ignore);
  for (const a of (await ec2.send(new DescribeAddressesCommand({}))).Addresses ?? []) await ec2.send(new ReleaseAddressCommand({AllocationId: a.AllocationId})).catch(ignore);
  for (const img of (await ec2.send(new DescribeImagesCommand({Owners: ['self']}))).Images ?? []) await ec2.send(new DeregisterImageCommand({ImageId: img.ImageId})).catch(ignore);
  for (const snap of (await ec2.send(new DescribeSnapshotsCommand({OwnerIds: ['self']}))).Snapshots ?? []) await ec2.send(new DeleteSnapshotCommand({SnapshotId: snap.SnapshotId})).catch(ignore);
  for (const k of (await ec2.send(new DescribeKeyPairsCommand({}))).KeyPairs ?? []) await ec2.send(new DeleteKeyPairCommand({KeyName: k.KeyName})).catch(ignore);
  for (const g of (await ec2.send(new DescribeSecurityGroupsCommand({}))).SecurityGroups ?? []) if (g.GroupName !== 'default') await ec2.send(new DeleteSecurityGroupCommand({GroupId: g.GroupId})).catch(ignore);
  for (const v of (await ec2.send(new DescribeVolumesCommand({}))).Volumes ?? []) if (v.State === 'available') await ec2.send(new DeleteVolumeCommand({VolumeId: v.VolumeId})).catch(ignore);
}

export function ec2For(moto: Moto, region: string): EC2Client {
  return new EC2Client({region, endpoint: moto.url, credentials: {accessKeyId: DUMMY_ACCESS_KEY, secretAccessKey: DUMMY_SECRET}});
}

export function awsCases(moto: Moto, setup: {boxfile: string; files?: Record<string, string>; env?: Record<string, string>}) {
  const free = [...REGIONS];
  const waiting: Array<(region: string) => void> = [];
  const take = () => new Promise<string>((resolve) => {
    const region = free.shift();
    if (region) resolve(region);
    else waiting.push(resolve);
  });
  const give = (region: string) => {
    const next = waiting.shift();
    if (next) next(region);
    else free.push(region);
  };
  return async (label: string, fn: (c: AwsCase) => Promise<void>): Promise<void> => {
    const region = await take();
    const ec2 = ec2For(moto, region);
    const sandbox = await Sandbox.create(`aws-${label.replace(/[^a-z0-9-]/gi, '')}`);
    let passed = false;
    try {
      sandbox.env = {...moto.env, AWS_REGION: region, ...fakeSshEnv(), ...setup.env};
      sandbox.write('Boxfile', setup.boxfile);
      for (const [file, content] of Object.entries(setup.files ?? {})) sandbox.write(file, content);
      sandbox.mark();
      const baseline = await snapshotCloud(ec2);
      await fn({
        sandbox, region, ec2,
        clean: (context, allow = []) => sandbox.assertClean(context, {allow: [...HOME_CACHES, ...allow], cloud: {ec2, baseline, allow}}),
      });
      passed = true;
    } finally {
      // Whatever a failed case left in its region goes (straight through the API: box's own
      // cleanup may be what failed), so the region is clean for the next case.
      if (!passed) await removeEverything(ec2);
      await sandbox.dispose();
      give(region);
    }
  };
}
