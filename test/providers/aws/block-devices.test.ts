import {after, afterEach, before, beforeEach, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {
  AuthorizeSecurityGroupIngressCommand, CreateSecurityGroupCommand, DescribeImagesCommand, DescribeInstancesCommand, EC2Client, ImportKeyPairCommand,
  RunInstancesCommand, type RunInstancesCommandInput, CancelSpotInstanceRequestsCommand, TerminateInstancesCommand, DescribeAddressesCommand,
  DescribeSecurityGroupsCommand, DescribeKeyPairsCommand, DescribeSnapshotsCommand,
} from '@aws-sdk/client-ec2';
import {mockClient} from 'aws-sdk-client-mock';
import os from 'node:os';
import path from 'node:path';
import {silentUi} from '../../../src/core/ui.js';
import {sweep} from '../../../src/services/sweep.js';
import {BoxError} from '../../../src/core/errors.js';
import {AwsProvider} from '../../../src/providers/aws/aws-provider.js';
import {toEc2BlockDeviceMappings} from '../../../src/providers/aws/block-devices.js';
import {setAwsCommunicatorFactory} from '../../../src/providers/aws/communicator-factory.js';
import {FakeCommunicator} from '../../helpers/fake-ssh.js';
import {tempDir} from '../../helpers/cli.js';
import {awsContext, awsMachine} from './machine.js';

describe('block device mappings', () => {
  test('EBS mappings carry size, type, iops and encryption, and are deleted on termination by default', () => {
    assert.deepEqual(toEc2BlockDeviceMappings([
      {device_name: '/dev/sdb', volume_size: 20, volume_type: 'gp3', iops: 4000, encrypted: true},
      {device_name: '/dev/sdc', volume_size: 5, delete_on_termination: false},
    ]), [
      {DeviceName: '/dev/sdb', Ebs: {VolumeSize: 20, VolumeType: 'gp3', Iops: 4000, Encrypted: true, SnapshotId: undefined, DeleteOnTermination: true}},
      {DeviceName: '/dev/sdc', Ebs: {VolumeSize: 5, VolumeType: undefined, Iops: undefined, Encrypted: undefined, SnapshotId: undefined, DeleteOnTermination: false}},
    ]);
  });

  test('an instance-store mapping is only a device name and a virtual name', () => {
    assert.deepEqual(toEc2BlockDeviceMappings([{device_name: '/dev/sdb', virtual_name: 'ephemeral0'}]), [{DeviceName: '/dev/sdb', VirtualName: 'ephemeral0'}]);
  });

  test('bad combinations are usage errors that name the mapping and field', () => {
    const cases: Array<[Parameters<typeof toEc2BlockDeviceMappings>[0], RegExp]> = [
      [[{device_name: '/dev/sdb', volume_size: 1}, {device_name: '/dev/sdb', volume_size: 2}], /"\/dev\/sdb" is mapped twice/],
      [[{device_name: '/dev/sdb', volume_size: 8, iops: 100, volume_type: 'gp2'}], /\[0\]\.iops is set but volume_type is "gp2"/],
      [[{device_name: '/dev/sdb'}], /\[0\] \(\/dev\/sdb\) needs volume_size/],
      [[{device_name: '/dev/sdb', virtual_name: 'ephemeral1', encrypted: true}], /instance-store volume "ephemeral1" but also sets EBS field\(s\) encrypted/],
    ];
    for (const [mappings, message] of cases) {
      assert.throws(() => toEc2BlockDeviceMappings(mappings, 'Boxfile'), (e: BoxError) => e.exitCode === 2 && e.code === 'ERR_AWS_BLOCK_DEVICE' && message.test(e.message));
    }
  });

  // moto 5.2.1 rejects an instance-store mapping given only VirtualName (real EC2 accepts it), so
  // this one runs up against a stateful aws-sdk-client-mock to see what box sends to RunInstances.
  describe('through up, with EC2 mocked', () => {
    const ec2 = mockClient(EC2Client);
    let work: {dir: string; cleanup: () => Promise<void>};
    let home: {dir: string; cleanup: () => Promise<void>};
    let launched: RunInstancesCommandInput | undefined;
    const saved = {...process.env};
    before(() => {
      process.env.AWS_REGION = 'eu-west-1';
      process.env.AWS_ACCESS_KEY_ID = 'AKIAIOSFODNN7EXAMPLE';
      process.env.AWS_SECRET_ACCESS_KEY = 'dummy-secret-for-tests';
      setAwsCommunicatorFactory(async (info, dir) => new FakeCommunicator(dir, info));
    });
    after(() => {
      for (const k of ['AWS_REGION', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) if (saved[k] === undefined) delete process.env[k]; else process.env[k] = saved[k];
      ec2.restore();
      setAwsCommunicatorFactory(undefined);
    });
    beforeEach(async () => {
      work = await tempDir('box-aws-bdm-');
      // BOX_HOME too: up writes the user-level machine index, never the developer's ~/.box.
      home = await tempDir('box-aws-bdm-home-');
      process.env.BOX_HOME = home.dir;
      ec2.reset();
      launched = undefined;
      ec2.on(DescribeImagesCommand).resolves({Images: [{ImageId: 'ami-0123456789abcdef0', State: 'available'}]});
      ec2.on(ImportKeyPairCommand).resolves({KeyPairId: 'key-1'});
      ec2.on(CreateSecurityGroupCommand).resolves({GroupId: 'sg-1'});
      ec2.on(AuthorizeSecurityGroupIngressCommand).resolves({});
      ec2.on(RunInstancesCommand).callsFake(async (input: RunInstancesCommandInput) => {
        launched = input;
        return {Instances: [{InstanceId: 'i-0abc', State: {Name: 'pending'}}]};
      });
      // pending on the first look, then running: the waiter has to poll.
      let looks = 0;
      ec2.on(DescribeInstancesCommand).callsFake(async () => ({Reservations: [{Instances: [{InstanceId: 'i-0abc', State: {Name: looks++ === 0 ? 'pending' : 'running'}, PublicIpAddress: '198.51.100.20'}]}]}));
      process.env.BOX_AWS_POLL_SECONDS = '0.01';
    });
    afterEach(async () => {
      delete process.env.BOX_AWS_POLL_SECONDS;
      delete process.env.BOX_HOME;
      await work.cleanup();
      await home.cleanup();
    });

    test('RunInstances gets the instance-store mapping with no EBS part, next to an EBS one', async () => {
      const machine = awsMachine('web', {ami: 'ami-0123456789abcdef0', ssh_cidr: '203.0.113.4/32', block_device_mappings: [
        {device_name: '/dev/sdb', virtual_name: 'ephemeral0'},
        {device_name: '/dev/sdc', volume_size: 30, volume_type: 'io2', iops: 5000},
      ]});
      await new AwsProvider().up(awsContext(work.dir, machine));
      assert.deepEqual(launched?.BlockDeviceMappings?.[0], {DeviceName: '/dev/sdb', VirtualName: 'ephemeral0'});
      assert.equal(launched?.BlockDeviceMappings?.[1]?.Ebs?.Iops, 5000);
      assert.deepEqual(launched?.SecurityGroupIds, ['sg-1']);
      assert.match(String(launched?.ClientToken), /^box-/);
      assert.ok((ec2.commandCalls(DescribeInstancesCommand).length) >= 2, 'waited through pending');
    });

    test('spot, user data and an instance profile ARN reach RunInstances in EC2\'s shape', async () => {
      const machine = awsMachine('web', {ami: 'ami-0123456789abcdef0', ssh_cidr: '203.0.113.4/32', spot: {max_price: '0.05'}, user_data: '#cloud-config\n', iam_instance_profile: 'arn:aws:iam::123456789012:instance-profile/web'});
      await new AwsProvider().up(awsContext(work.dir, machine));
      assert.deepEqual(launched?.InstanceMarketOptions, {MarketType: 'spot', SpotOptions: {MaxPrice: '0.05', SpotInstanceType: 'persistent', InstanceInterruptionBehavior: 'stop'}});
      assert.equal(Buffer.from(String(launched?.UserData), 'base64').toString(), '#cloud-config\n');
      assert.deepEqual(launched?.IamInstanceProfile, {Arn: 'arn:aws:iam::123456789012:instance-profile/web'});
      assert.ok(launched?.TagSpecifications?.some((t) => t.ResourceType === 'spot-instances-request' && t.Tags?.some((tag) => tag.Key === 'box:machine' && tag.Value === 'web')), 'the spot request is tagged for sweep');
    });

    // moto 5.2.1 makes no spot request for RunInstances with spot market options, so sweep's
    // handling of a leaked persistent spot instance is checked against the mock.
    test('sweep cancels the persistent spot request of a leaked instance before terminating it', async () => {
      ec2.on(DescribeInstancesCommand).resolves({Reservations: [{Instances: [{
        InstanceId: 'i-0spot', SpotInstanceRequestId: 'sir-123', State: {Name: 'running'},
        Tags: [{Key: 'box:host', Value: os.hostname()}, {Key: 'box:root', Value: path.join(work.dir, 'gone')}, {Key: 'Name', Value: 'leak'}],
      }]}]});
      for (const command of [DescribeAddressesCommand, DescribeSecurityGroupsCommand, DescribeKeyPairsCommand, DescribeImagesCommand, DescribeSnapshotsCommand]) ec2.on(command as never).resolves({});
      const calls: string[] = [];
      ec2.on(CancelSpotInstanceRequestsCommand).callsFake(async (input) => { calls.push(`cancel ${input.SpotInstanceRequestIds.join(',')}`); return {}; });
      ec2.on(TerminateInstancesCommand).callsFake(async (input) => {
        calls.push(`terminate ${input.InstanceIds.join(',')}`);
        ec2.on(DescribeInstancesCommand).resolves({Reservations: [{Instances: [{InstanceId: 'i-0spot', State: {Name: 'terminated'}}]}]});
        return {};
      });
      const result = await sweep({dryRun: false, allHosts: false, ui: silentUi(), signal: new AbortController().signal});
      assert.deepEqual(result.resources.map((r) => [r.type, r.id, r.spotRequestId, r.removed]), [['instance', 'i-0spot', 'sir-123', true]]);
      assert.deepEqual(calls, ['cancel sir-123', 'terminate i-0spot']);
    });
  });
});
