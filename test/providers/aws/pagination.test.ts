import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import {
  CreateImageCommand, CreateSecurityGroupCommand, CreateTagsCommand, DescribeImagesCommand, DescribeInstancesCommand, DescribeSecurityGroupsCommand, DescribeSnapshotsCommand,
  EC2Client, RunInstancesCommand, type Tag,
} from '@aws-sdk/client-ec2';
import {silentUi} from '../../../src/core/ui.js';
import {newestAmiMatching} from '../../../src/providers/aws/ami.js';
import {securityGroupIds} from '../../../src/providers/aws/aws-provider.js';
import {TAG} from '../../../src/providers/aws/tags.js';
import {sweep} from '../../../src/services/sweep.js';
import {motoSuite} from './moto-suite.js';

const UBUNTU_AMI = 'ami-1e749f67';

// EC2 answers Describe* calls of large accounts in pages. moto pages DescribeInstances itself
// (100 reservations a page); for the other calls the fault proxy cuts moto's whole answer into
// pages with a NextToken, as EC2 does.
describe('every page of Describe* answers is read (sweep, ami_filter, group names)', () => {
  const suite = motoSuite({prefix: 'box-paging', inProcess: true});

  const orphanTags = (extra: Record<string, string> = {}): Tag[] => Object.entries({[TAG.host]: os.hostname(), [TAG.root]: '/nonexistent/box-project', [TAG.project]: 'gone', ...extra}).map(([Key, Value]) => ({Key, Value}));
  const sweepVia = (endpoint: string | undefined, dryRun: boolean) => sweep({dryRun, allHosts: false, endpoint, ui: silentUi(), signal: new AbortController().signal});
  const live = async () => ((await suite.ec2.send(new DescribeInstancesCommand({Filters: [{Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped']}], MaxResults: 1000}))).Reservations ?? []).flatMap((r) => r.Instances ?? []);

  test('sweep removes all 105 orphaned instances, not the first page of 100', async () => {
    // One reservation each, as 105 separate `box up`s make them (moto pages by reservation).
    for (let i = 0; i < 105; i++) {
      await suite.ec2.send(new RunInstancesCommand({ImageId: UBUNTU_AMI, MinCount: 1, MaxCount: 1, TagSpecifications: [{ResourceType: 'instance', Tags: orphanTags({[TAG.token]: `box-orphan-${i}`})}]}));
    }
    const dry = await sweepVia(undefined, true);
    assert.equal(dry.resources.filter((r) => r.type === 'instance').length, 105);
    const done = await sweepVia(undefined, false);
    assert.equal(done.resources.filter((r) => r.type === 'instance' && r.removed).length, 105);
    assert.equal((await live()).length, 0, 'no instance is left running');
  });

  test('sweep reads every page of security groups, images and snapshots', async () => {
    suite.proxy.paging = {DescribeSecurityGroups: 2, DescribeImages: 1, DescribeSnapshots: 1};
    for (let i = 0; i < 5; i++) {
      await suite.ec2.send(new CreateSecurityGroupCommand({GroupName: `box-gone-${i}`, Description: 'orphan', TagSpecifications: [{ResourceType: 'security-group', Tags: orphanTags()}]}));
    }
    const instance = (await suite.ec2.send(new RunInstancesCommand({ImageId: UBUNTU_AMI, MinCount: 1, MaxCount: 1}))).Instances![0].InstanceId!;
    const images: string[] = [];
    for (let i = 0; i < 3; i++) {
      // Half-made AMIs of a bake that died (no box:complete tag, a token no live bake has).
      const {ImageId} = await suite.ec2.send(new CreateImageCommand({InstanceId: instance, Name: `half-${i}`, TagSpecifications: [{ResourceType: 'image', Tags: orphanTags({[TAG.bake]: 'web', [TAG.token]: 'box-bake-dead'})}]}));
      images.push(ImageId!);
    }
    const snapshots = ((await suite.ec2.send(new DescribeImagesCommand({ImageIds: images}))).Images ?? []).flatMap((i) => i.BlockDeviceMappings?.map((b) => b.Ebs!.SnapshotId!) ?? []);
    await suite.ec2.send(new CreateTagsCommand({Resources: snapshots, Tags: orphanTags({[TAG.bake]: 'web', [TAG.token]: 'box-bake-dead'})}));

    const dry = await sweepVia(suite.proxy.url, true);
    const listed = (type: string) => dry.resources.filter((r) => r.type === type).map((r) => r.id).sort();
    assert.equal(listed('security-group').length, 5);
    assert.deepEqual(listed('image'), [...images].sort());
    assert.deepEqual(listed('snapshot'), [...snapshots].sort());
    assert.ok((suite.proxy.hits.get('DescribeSecurityGroups') ?? 0) >= 3, 'the groups came in pages');

    const done = await sweepVia(suite.proxy.url, false);
    assert.ok(done.resources.every((r) => r.removed), JSON.stringify(done.resources.filter((r) => !r.removed)));
    assert.deepEqual(((await suite.ec2.send(new DescribeSecurityGroupsCommand({}))).SecurityGroups ?? []).filter((g) => g.GroupName !== 'default'), []);
    assert.deepEqual((await suite.ec2.send(new DescribeImagesCommand({Owners: ['self']}))).Images ?? [], []);
    assert.deepEqual((await suite.ec2.send(new DescribeSnapshotsCommand({SnapshotIds: snapshots})).catch(() => ({Snapshots: []}))).Snapshots ?? [], []);
  });

  test('ami_filter finds the newest matching image on any page, and security group names resolve from any page', async () => {
    suite.proxy.paging = {DescribeImages: 1, DescribeSecurityGroups: 1};
    const instance = (await suite.ec2.send(new RunInstancesCommand({ImageId: UBUNTU_AMI, MinCount: 1, MaxCount: 1}))).Instances![0].InstanceId!;
    const made: string[] = [];
    for (let i = 0; i < 3; i++) {
      made.push((await suite.ec2.send(new CreateImageCommand({InstanceId: instance, Name: `shop-base-${i}`}))).ImageId!);
      await new Promise((resolve) => setTimeout(resolve, 1100)); // distinct CreationDate (1 s resolution)
    }
    const paged = new EC2Client({region: 'us-east-1', endpoint: suite.proxy.url});
    const newest = await newestAmiMatching(paged, {owner: 'self', name: 'shop-base-*'}, 'us-east-1');
    assert.equal(newest.ImageId, made[2]);
    assert.ok((suite.proxy.hits.get('DescribeImages') ?? 0) >= 3, 'the images came one per page');

    for (const name of ['alpha', 'beta', 'gamma']) await suite.ec2.send(new CreateSecurityGroupCommand({GroupName: name, Description: name}));
    const ids = await securityGroupIds(paged, ['alpha', 'gamma'], undefined, 'us-east-1');
    const all = (await suite.ec2.send(new DescribeSecurityGroupsCommand({}))).SecurityGroups ?? [];
    assert.deepEqual(ids, ['alpha', 'gamma'].map((n) => all.find((g) => g.GroupName === n)!.GroupId));
  });
});
