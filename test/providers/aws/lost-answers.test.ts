import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {spawnSync} from 'node:child_process';
import {existsSync} from 'node:fs';
import {mkdir, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {
  CreateImageCommand, CreateSecurityGroupCommand, DescribeImagesCommand, DescribeInstancesCommand, DescribeKeyPairsCommand, DescribeSecurityGroupsCommand,
  DescribeSnapshotsCommand, ImportKeyPairCommand, RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import {loadTemplate} from '../../../src/builder/template.js';
import {generateKeyPair} from '../../../src/communicators/keys.js';
import {BoxError} from '../../../src/core/errors.js';
import {silentUi} from '../../../src/core/ui.js';
import {AwsProvider} from '../../../src/providers/aws/aws-provider.js';
import {writeBakeRecord} from '../../../src/providers/aws/bake-records.js';
import {createSecurityGroup, importKeyPair} from '../../../src/providers/aws/resources.js';
import {TAG, tagValue} from '../../../src/providers/aws/tags.js';
import {bakeAmi} from '../../../src/services/aws-bake.js';
import {sweep} from '../../../src/services/sweep.js';
import {awsContext, awsMachine} from './machine.js';
import {motoSuite} from './moto-suite.js';

const UBUNTU_AMI = 'ami-1e749f67';

// A creating call whose answer is lost after EC2 acted (connection reset): the SDK sends it
// again and EC2 answers "Duplicate". The fault proxy forwards the first request to moto, then
// resets the connection instead of answering.
describe('creating calls whose answer was lost after EC2 acted', () => {
  const suite = motoSuite({prefix: 'box-lost', inProcess: true});

  const bake = async () => {
    const tpl = path.join(suite.work, 'tpl');
    await mkdir(tpl, {recursive: true});
    await writeFile(path.join(tpl, 'template.yaml'), 'name: lost\nversion: 1.0.0\nmethod: box\nsource: box base\nssh: {username: admin}\npost_install:\n  - inline: ["true"]\n');
    return bakeAmi({template: await loadTemplate(tpl), aws: {ami: UBUNTU_AMI, ssh_cidr: '203.0.113.4/32', endpoint: suite.proxy.url}, outputDir: path.join(suite.work, 'out'), ui: silentUi(), signal: new AbortController().signal});
  };
  const selfImages = async () => (await suite.ec2.send(new DescribeImagesCommand({Owners: ['self']}))).Images ?? [];
  // The CreateImage that tags the image only: moto takes no snapshot tags at CreateImage (HTTP 500), real EC2 does.
  const imageOnly = (p: URLSearchParams) => p.get('Action') === 'CreateImage' && !p.has('TagSpecification.2.ResourceType');
  const keyPairs = async () => (await suite.ec2.send(new DescribeKeyPairsCommand({}))).KeyPairs ?? [];
  const groups = async () => ((await suite.ec2.send(new DescribeSecurityGroupsCommand({}))).SecurityGroups ?? []).filter((g) => g.GroupName !== 'default');

  test('up adopts its own key pair, group and SSH rule when ImportKeyPair, CreateSecurityGroup and AuthorizeSecurityGroupIngress are retried', async () => {
    suite.proxy.faults = ['ImportKeyPair', 'CreateSecurityGroup', 'AuthorizeSecurityGroupIngress'].map((action) => ({action, after: 'drop' as const, times: 1}));
    const ctx = awsContext(suite.work, awsMachine('web', {ami: UBUNTU_AMI, ssh_cidr: '203.0.113.4/32', endpoint: suite.proxy.url}));
    const provider = new AwsProvider();
    assert.deepEqual(await provider.up(ctx), {created: true});
    for (const action of ['ImportKeyPair', 'CreateSecurityGroup', 'AuthorizeSecurityGroupIngress']) assert.equal(suite.proxy.hits.get(action), 2, `${action} was sent twice`);
    assert.equal((await keyPairs()).length, 1);
    const [group] = await groups();
    assert.deepEqual(group.IpPermissions?.map((p) => [p.FromPort, p.IpRanges?.map((r) => r.CidrIp)]), [[22, ['203.0.113.4/32']]]);
    const instances = ((await suite.ec2.send(new DescribeInstancesCommand({}))).Reservations ?? []).flatMap((r) => r.Instances ?? []);
    assert.deepEqual(instances.map((i) => i.SecurityGroups?.[0]?.GroupId), [group.GroupId]);
    await provider.destroy(ctx);
    assert.deepEqual(await keyPairs(), [], 'the adopted key pair is deleted with the machine');
    assert.deepEqual(await groups(), [], 'the adopted group is deleted with the machine');
  });

  test('a key pair or group of the same name that is not box\'s is never adopted', async () => {
    const mine = generateKeyPair('box-test');
    const theirs = generateKeyPair('someone-else');
    await suite.ec2.send(new ImportKeyPairCommand({KeyName: 'taken', PublicKeyMaterial: Buffer.from(theirs.publicKey)}));
    await assert.rejects(importKeyPair(suite.ec2, {name: 'taken', publicKey: mine.publicKey, tags: [{Key: 'box:machine', Value: 'web'}], region: 'us-east-1'}), (e: BoxError) => e.code === 'ERR_AWS_KEY_PAIR_EXISTS');
    assert.equal(await importKeyPair(suite.ec2, {name: 'taken', publicKey: theirs.publicKey, tags: [{Key: 'box:machine', Value: 'web'}], region: 'us-east-1'}), (await keyPairs())[0].KeyPairId, 'the same public key is adopted');

    await suite.ec2.send(new CreateSecurityGroupCommand({GroupName: 'taken', Description: 'not box', TagSpecifications: [{ResourceType: 'security-group', Tags: [{Key: 'box:machine', Value: 'other'}]}]}));
    await assert.rejects(createSecurityGroup(suite.ec2, {name: 'taken', description: 'x', tags: [{Key: 'box:machine', Value: 'web'}], region: 'us-east-1'}), (e: BoxError) => e.code === 'ERR_AWS_GROUP_EXISTS');
  });

  test('a bake whose CreateImage answer was lost ends with one AMI, tagged on creation, and adopts its retried key pair and group', async () => {
    suite.proxy.faults = [
      {action: 'ImportKeyPair', after: 'drop', times: 1},
      {action: 'CreateSecurityGroup', after: 'drop', times: 1},
      {action: 'CreateImage', after: 'drop', times: 1, when: imageOnly},
    ];
    const result = await bake();
    // Tag specifications for the image AND its snapshot went with the first CreateImage.
    const first = suite.proxy.requests.find((r) => r.action === 'CreateImage')!.params;
    assert.deepEqual([first.get('TagSpecification.1.ResourceType'), first.get('TagSpecification.2.ResourceType')], ['image', 'snapshot']);
    assert.ok(suite.proxy.requests.filter((r) => imageOnly(r.params)).length >= 2, 'the image-only CreateImage was retried after its answer was lost');
    // moto (unlike EC2) allows two AMIs of one name: the retry made a second, and the bake removed the extra one.
    const images = await selfImages();
    assert.deepEqual(images.map((i) => i.ImageId), [result.ami]);
    const tags = Object.fromEntries((images[0].Tags ?? []).map((t) => [t.Key, t.Value]));
    assert.ok(tags[TAG.token]?.startsWith('box-bake-') && tags[TAG.complete], JSON.stringify(tags));
    const snapshots = (await suite.ec2.send(new DescribeSnapshotsCommand({OwnerIds: ['self'], Filters: [{Name: `tag:${TAG.bake}`, Values: ['lost']}]}))).Snapshots ?? [];
    assert.deepEqual(snapshots.map((x) => x.SnapshotId), images[0].BlockDeviceMappings?.map((b) => b.Ebs?.SnapshotId));
    assert.equal(tagValue(snapshots[0].Tags, TAG.token), tags[TAG.token]);
    assert.deepEqual(await keyPairs(), [], 'the adopted temporary key pair was removed');
    assert.deepEqual(await groups(), [], 'the adopted temporary group was removed');
  });

  test('a bake whose retried CreateImage is answered InvalidAMIName.Duplicate (as EC2 does) adopts its own AMI', async () => {
    suite.proxy.faults = [
      {action: 'CreateImage', after: 'drop', times: 1, when: imageOnly},
      {action: 'CreateImage', status: 400, code: 'InvalidAMIName.Duplicate', message: 'AMI name is already in use by AMI', times: 1, when: imageOnly},
    ];
    const result = await bake();
    const images = await selfImages();
    assert.deepEqual(images.map((i) => i.ImageId), [result.ami]);
    assert.ok(images[0].Tags?.some((t) => t.Key === TAG.complete));
  });

  test('sweep removes the untagged AMI and snapshot of a bake killed during CreateImage, found by the AMI name its record holds', async () => {
    // What a cloud that drops tags leaves when the bake dies before it learns the image id.
    const instance = (await suite.ec2.send(new RunInstancesCommand({ImageId: UBUNTU_AMI, MinCount: 1, MaxCount: 1}))).Instances![0].InstanceId!;
    const token = 'box-bake-00000000-dead-4000-8000-000000000000';
    const {ImageId} = await suite.ec2.send(new CreateImageCommand({InstanceId: instance, Name: 'lost-1.0.0-20260101T000000', Description: `box build lost 1.0.0 (${token})`}));
    const other = (await suite.ec2.send(new CreateImageCommand({InstanceId: instance, Name: 'someone-elses', Description: 'not box'}))).ImageId;
    const deadPid = spawnSync('true').pid!;
    await writeBakeRecord({token, pid: deadPid, template: 'lost', region: 'us-east-1', amiName: 'lost-1.0.0-20260101T000000', startedAt: new Date().toISOString()});
    const snapshot = (await selfImages()).find((i) => i.ImageId === ImageId)!.BlockDeviceMappings![0].Ebs!.SnapshotId!;

    const dry = await sweep({dryRun: true, allHosts: false, ui: silentUi(), signal: new AbortController().signal});
    assert.deepEqual(dry.resources.map((r) => `${r.type} ${r.id}`).sort(), [`image ${ImageId}`, `snapshot ${snapshot}`].sort());
    const done = await sweep({dryRun: false, allHosts: false, ui: silentUi(), signal: new AbortController().signal});
    assert.ok(done.resources.every((r) => r.removed), JSON.stringify(done.resources));
    assert.deepEqual((await selfImages()).map((i) => i.ImageId), [other], 'only the image that is not box\'s is left');
    assert.equal(existsSync(path.join(suite.home, 'bakes', 'aws', `${token}.json`)), false, 'the dead bake\'s record goes once its resources are gone');
  });
});
