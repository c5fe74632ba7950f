import {after, afterEach, before, beforeEach, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {existsSync} from 'node:fs';
import {mkdir, readFile, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {
  CreateSecurityGroupCommand, DescribeInstanceAttributeCommand, DescribeInstancesCommand, DescribeKeyPairsCommand, DescribeSecurityGroupsCommand, DescribeVolumesCommand, EC2Client, RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import {BoxError} from '../../../src/core/errors.js';
import {readMachineState, writeMachineState} from '../../../src/core/state.js';
import {AwsProvider} from '../../../src/providers/aws/aws-provider.js';
import {setAwsCommunicatorFactory} from '../../../src/providers/aws/communicator-factory.js';
import {FakeCommunicator} from '../../helpers/fake-ssh.js';
import type {AwsMachineState} from '../../../src/providers/aws/machine-state.js';
import {TAG} from '../../../src/providers/aws/tags.js';
import {tempDir} from '../../helpers/cli.js';
import {DUMMY_ACCESS_KEY, DUMMY_SECRET, startMoto, useMotoEnv, type Moto} from '../../helpers/moto.js';
import {startFaultProxy} from './fault-proxy.js';
import {awsContext, awsMachine} from './machine.js';

// moto instances have no SSH server: the communicator is the fake one (records, answers at once).
const UBUNTU_AMI = 'ami-1e749f67';

describe('aws provider against the moto EC2 emulator', () => {
  let moto: Moto;
  let restoreEnv: () => void;
  let ec2: EC2Client;
  let work: {dir: string; cleanup: () => Promise<void>};
  let home: {dir: string; cleanup: () => Promise<void>};
  const sshSeen: string[] = [];

  before(async () => {
    moto = await startMoto();
    restoreEnv = useMotoEnv(moto);
    ec2 = new EC2Client({region: 'us-east-1'});
    setAwsCommunicatorFactory(async (info, dir) => {
      sshSeen.push(`${info.username}@${info.host}:${info.port}`);
      return new FakeCommunicator(dir, info);
    });
  });
  after(async () => {
    setAwsCommunicatorFactory(undefined);
    restoreEnv?.();
    await moto?.stop();
  });
  beforeEach(async () => {
    await moto.reset();
    work = await tempDir('box-aws-');
    home = await tempDir('box-aws-home-');
    process.env.BOX_HOME = home.dir;
    sshSeen.length = 0;
  });
  afterEach(async () => {
    delete process.env.BOX_HOME;
    await work.cleanup();
    await home.cleanup();
  });

  async function liveInstances() {
    const out = await ec2.send(new DescribeInstancesCommand({Filters: [{Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped']}]}));
    return out.Reservations?.flatMap((r) => r.Instances ?? []) ?? [];
  }
  async function boxGroups() {
    const out = await ec2.send(new DescribeSecurityGroupsCommand({}));
    return (out.SecurityGroups ?? []).filter((g) => g.GroupName !== 'default');
  }
  async function keyPairs() {
    return (await ec2.send(new DescribeKeyPairsCommand({}))).KeyPairs ?? [];
  }

  test('up, halt, up again and destroy run the whole lifecycle and leave nothing behind', async () => {
    const machine = awsMachine('web', {
      ami: UBUNTU_AMI, instance_type: 't3.small', ssh_cidr: '203.0.113.4/32', tags: {team: 'infra'},
      block_device_mappings: [{device_name: '/dev/sdb', volume_size: 8, volume_type: 'gp3', iops: 3000, encrypted: true}],
      user_data: '#cloud-config\nruncmd: [touch /tmp/hello]\n',
    });
    const ctx = awsContext(work.dir, machine);
    const provider = new AwsProvider();

    assert.deepEqual(await provider.up(ctx), {created: true});
    const state = (await readMachineState(work.dir, 'web'))!;
    const s = state.provider as unknown as AwsMachineState;
    assert.equal(state.target, 'aws');
    assert.equal(s.phase, 'created');
    assert.match(s.instanceId!, /^i-/);

    // Instance: tagged, of the asked type, with our key and group, EBS mapping deleted on termination.
    const [instance] = await liveInstances();
    assert.equal(instance.InstanceId, s.instanceId);
    assert.equal(instance.InstanceType, 't3.small');
    assert.equal(instance.KeyName, s.keyPair!.name);
    const tags = Object.fromEntries((instance.Tags ?? []).map((t) => [t.Key, t.Value]));
    assert.equal(tags[TAG.project], 'proj');
    assert.equal(tags[TAG.machine], 'web');
    assert.equal(tags.Name, 'box-proj-web');
    assert.equal(tags.team, 'infra');
    assert.equal(tags[TAG.token], s.token);
    const sdb = instance.BlockDeviceMappings?.find((b) => b.DeviceName === '/dev/sdb');
    assert.ok(sdb?.Ebs?.VolumeId, 'the /dev/sdb EBS volume is attached');
    assert.equal(sdb.Ebs.DeleteOnTermination, true);
    const volumes = await ec2.send(new DescribeVolumesCommand({VolumeIds: [sdb.Ebs.VolumeId]}));
    assert.equal(volumes.Volumes?.[0]?.Size, 8);
    assert.equal(volumes.Volumes?.[0]?.Encrypted, true);

    // Key pair: imported ed25519 key, tagged; private key kept in .box/ with mode 0600.
    const [kp] = await keyPairs();
    assert.equal(kp.KeyName, s.keyPair!.name);
    assert.equal(Object.fromEntries((kp.Tags ?? []).map((t) => [t.Key, t.Value]))[TAG.machine], 'web');
    assert.match(await readFile(s.keyPair!.privateKeyPath, 'utf8'), /BEGIN OPENSSH PRIVATE KEY/);
    // Security group: SSH only, only from ssh_cidr.
    const [sg] = await boxGroups();
    assert.equal(sg.GroupId, s.securityGroup!.id);
    assert.deepEqual(sg.IpPermissions?.map((p) => [p.IpProtocol, p.FromPort, p.ToPort, p.IpRanges?.map((r) => r.CidrIp)]), [['tcp', 22, 22, ['203.0.113.4/32']]]);
    assert.equal(Object.fromEntries((sg.Tags ?? []).map((t) => [t.Key, t.Value]))[TAG.project], 'proj');

    // SSH went to the public address with the configured user.
    assert.deepEqual(sshSeen, [`admin@${instance.PublicIpAddress}:22`]);
    assert.equal((await provider.status(ctx)).status, 'running');
    const info = await provider.sshInfo(ctx);
    assert.equal(info.host, instance.PublicIpAddress);
    assert.equal(info.privateKeyPath, s.keyPair!.privateKeyPath);

    assert.equal(await provider.halt(ctx, {force: false, timeoutSeconds: 30}), 'stop-instances');
    assert.equal((await provider.status(ctx)).status, 'stopped');
    assert.deepEqual(await provider.up(ctx), {created: false});
    assert.equal((await provider.status(ctx)).status, 'running');
    assert.equal((await liveInstances()).length, 1, 'up on a stopped machine starts the same instance');

    await provider.destroy(ctx);
    assert.equal((await liveInstances()).length, 0);
    assert.deepEqual(await boxGroups(), []);
    assert.deepEqual(await keyPairs(), []);
    assert.equal(await readMachineState(work.dir, 'web'), undefined);
    assert.equal(existsSync(s.keyPair!.privateKeyPath), false);
    assert.equal((await provider.status(ctx)).status, 'not-created');
    await provider.destroy(ctx); // idempotent
  });

  test('user_data (the Boxfile\'s, for every target) reaches RunInstances as UserData, the host file byte for byte', async () => {
    const userData = Buffer.from('#cloud-config\nwrite_files:\n  - {path: /etc/hello, content: "h\u00e9llo"}\n');
    const file = path.join(work.dir, 'user-data.yaml');
    await writeFile(file, userData);
    const machine = {...awsMachine('web', {ami: UBUNTU_AMI, ssh_cidr: '203.0.113.4/32'}), cloudInit: {userData: {path: file}, userDataSetAt: [['user_data']]}};
    const ctx = awsContext(work.dir, machine);
    const provider = new AwsProvider();
    await provider.up(ctx);
    const [instance] = await liveInstances();
    const attribute = await ec2.send(new DescribeInstanceAttributeCommand({InstanceId: instance.InstanceId, Attribute: 'userData'}));
    assert.ok(Buffer.from(attribute.UserData?.Value ?? '', 'base64').equals(userData), 'moto holds the same bytes');
    await provider.destroy(ctx);
    assert.equal((await liveInstances()).length, 0);
  });

  test('user_data over EC2\'s 16 KiB is refused before anything is made', async () => {
    const machine = {...awsMachine('web', {ami: UBUNTU_AMI, ssh_cidr: '203.0.113.4/32'}), cloudInit: {userData: {inline: `#cloud-config\n#${'x'.repeat(16 * 1024)}\n`}, userDataSetAt: [['user_data']]}};
    const ctx = awsContext(work.dir, machine);
    await assert.rejects(new AwsProvider().up(ctx), (error: unknown) => {
      assert.ok(error instanceof BoxError);
      assert.equal(error.exitCode, 2);
      assert.match(error.message, /user_data of web is 16\d{3} bytes; EC2 takes at most 16384/);
      return true;
    });
    assert.equal((await liveInstances()).length, 0);
    assert.deepEqual(await boxGroups(), []);
    assert.deepEqual(await keyPairs(), []);
  });

  test('ssh_interface private makes box reach the private address', async () => {
    const machine = awsMachine('db', {ami: UBUNTU_AMI, ssh_cidr: '10.0.0.0/8', ssh_interface: 'private', ssh_username: 'ubuntu'});
    const ctx = awsContext(work.dir, machine);
    await new AwsProvider().up(ctx);
    const [instance] = await liveInstances();
    assert.deepEqual(sshSeen, [`ubuntu@${instance.PrivateIpAddress}:22`]);
    await new AwsProvider().destroy(ctx);
  });

  test('Ctrl-C while waiting for SSH on a first up removes the instance, group and key pair', async () => {
    const controller = new AbortController();
    setAwsCommunicatorFactory(async (info) => ({
      waitForReady: async () => {
        controller.abort();
        throw Object.assign(new Error('aborted'), {name: 'AbortError'});
      },
      exec: async () => 0, upload: async () => undefined, close: async () => undefined,
    }));
    try {
      const ctx = awsContext(work.dir, awsMachine('web', {ami: UBUNTU_AMI, ssh_cidr: '203.0.113.4/32'}), controller.signal);
      await assert.rejects(new AwsProvider().up(ctx), (e: BoxError) => e.code === 'ERR_INTERRUPTED' && e.exitCode === 130);
      assert.equal((await liveInstances()).length, 0);
      assert.deepEqual(await boxGroups(), []);
      assert.deepEqual(await keyPairs(), []);
      assert.equal(await readMachineState(work.dir, 'web'), undefined);
    } finally {
      setAwsCommunicatorFactory(async (info, dir) => {
        sshSeen.push(`${info.username}@${info.host}:${info.port}`);
        return new FakeCommunicator(dir, info);
      });
    }
  });

  test('with keepOnError (up --no-destroy-on-error) a failed first up keeps the instance for debugging, and destroy removes it', async () => {
    setAwsCommunicatorFactory(async () => ({
      waitForReady: async () => { throw new BoxError('ERR_SSH_TIMEOUT', 'SSH did not answer'); },
      exec: async () => 0, upload: async () => undefined, close: async () => undefined,
    }));
    try {
      const ctx = {...awsContext(work.dir, awsMachine('web', {ami: UBUNTU_AMI, ssh_cidr: '203.0.113.4/32'})), keepOnError: true};
      await assert.rejects(new AwsProvider().up(ctx), (e: BoxError) => e.code === 'ERR_SSH_TIMEOUT');
      assert.equal((await liveInstances()).length, 1);
      const status = await new AwsProvider().status(ctx);
      assert.equal(status.status, 'broken');
      assert.equal(status.repair, 'box destroy web');
      await new AwsProvider().destroy(ctx);
      assert.equal((await liveInstances()).length, 0);
      assert.deepEqual(await boxGroups(), []);
      assert.deepEqual(await keyPairs(), []);
    } finally {
      setAwsCommunicatorFactory(async (info, dir) => {
        sshSeen.push(`${info.username}@${info.host}:${info.port}`);
        return new FakeCommunicator(dir, info);
      });
    }
  });

  test('a failed first up whose cleanup also fails keeps the record, so destroy can still remove the instance', async () => {
    setAwsCommunicatorFactory(async () => ({
      waitForReady: async () => { throw new BoxError('ERR_SSH_TIMEOUT', 'SSH did not answer'); },
      exec: async () => 0, upload: async () => undefined, close: async () => undefined,
    }));
    const proxy = await startFaultProxy(moto.url, [{action: 'TerminateInstances', status: 403, code: 'UnauthorizedOperation', message: 'You are not authorized to perform this operation.'}]);
    const endpoint = process.env.AWS_ENDPOINT_URL_EC2;
    process.env.AWS_ENDPOINT_URL_EC2 = proxy.url;
    try {
      const ctx = awsContext(work.dir, awsMachine('web', {ami: UBUNTU_AMI, ssh_cidr: '203.0.113.4/32'}));
      await assert.rejects(new AwsProvider().up(ctx), (e: BoxError) => e.code === 'ERR_SSH_TIMEOUT');
      assert.equal((await liveInstances()).length, 1, 'the instance could not be terminated');
      const recorded = await readMachineState(work.dir, 'web');
      assert.equal((recorded?.provider as {instanceId?: string}).instanceId, (await liveInstances())[0].InstanceId, 'and it stays recorded');
      proxy.faults = [];
      await new AwsProvider().destroy(ctx);
      assert.equal((await liveInstances()).length, 0);
      assert.deepEqual(await keyPairs(), []);
    } finally {
      process.env.AWS_ENDPOINT_URL_EC2 = endpoint;
      await proxy.close();
      setAwsCommunicatorFactory(async (info, dir) => {
        sshSeen.push(`${info.username}@${info.host}:${info.port}`);
        return new FakeCommunicator(dir, info);
      });
    }
  });

  test('a machine without ssh_cidr or security_groups is refused before anything is created', async () => {
    const ctx = awsContext(work.dir, awsMachine('web', {ami: UBUNTU_AMI}));
    await assert.rejects(new AwsProvider().up(ctx), (e: BoxError) => e.code === 'ERR_AWS_SSH_CIDR' && e.exitCode === 2 && /ssh_cidr/.test(e.message) && /0\.0\.0\.0\/0/.test(e.hint ?? ''));
    assert.deepEqual(await keyPairs(), []);
    assert.deepEqual(await boxGroups(), []);
    assert.equal(await readMachineState(work.dir, 'web'), undefined);
  });

  test('existing security groups by name are used and no group is created', async () => {
    const machine = awsMachine('web', {ami: UBUNTU_AMI, security_groups: ['default']});
    const ctx = awsContext(work.dir, machine);
    await new AwsProvider().up(ctx);
    const [instance] = await liveInstances();
    assert.deepEqual(instance.SecurityGroups?.map((g) => g.GroupName), ['default']);
    assert.deepEqual(await boxGroups(), []);
    await new AwsProvider().destroy(ctx);
    assert.equal((await liveInstances()).length, 0);
  });

  test('an unknown AMI gives a clear error and leaves nothing running or recorded', async () => {
    const ctx = awsContext(work.dir, awsMachine('web', {ami: 'ami-0123456789abcdef0', ssh_cidr: '203.0.113.4/32'}));
    await assert.rejects(new AwsProvider().up(ctx), (e: BoxError) => e.code === 'ERR_AWS_AMI_NOT_FOUND' && e.message.includes('"ami-0123456789abcdef0"') && e.message.includes('us-east-1'));
    assert.equal((await liveInstances()).length, 0);
    assert.deepEqual(await boxGroups(), []);
    assert.deepEqual(await keyPairs(), []);
    assert.equal(await readMachineState(work.dir, 'web'), undefined);
  });

  test('ami_filter picks the newest matching image of the owner', async () => {
    const machine = awsMachine('web', {ami_filter: {owner: '099720109477', name: 'ubuntu/images/hvm-ssd/ubuntu-trusty-*'}, ssh_cidr: '203.0.113.4/32'});
    const ctx = awsContext(work.dir, machine);
    await new AwsProvider().up(ctx);
    const s = (await readMachineState(work.dir, 'web'))!.provider as unknown as AwsMachineState;
    assert.equal(s.ami, UBUNTU_AMI);
    assert.match(s.amiSource, /ami_filter 099720109477/);
    await new AwsProvider().destroy(ctx);
    const none = awsContext(work.dir, awsMachine('web', {ami_filter: {owner: '099720109477', name: 'no-such-*'}, ssh_cidr: '203.0.113.4/32'}));
    await assert.rejects(new AwsProvider().up(none), (e: BoxError) => e.code === 'ERR_AWS_AMI_NOT_FOUND' && e.message.includes('no-such-*'));
  });

  test('destroy after a crash finds an instance whose id was never recorded by its token tag, and a group by its recorded name', async () => {
    const token = 'box-crashed-token';
    const run = await ec2.send(new RunInstancesCommand({
      ImageId: UBUNTU_AMI, MinCount: 1, MaxCount: 1,
      TagSpecifications: [{ResourceType: 'instance', Tags: [{Key: TAG.token, Value: token}, {Key: TAG.project, Value: 'proj'}]}],
    }));
    // The group was recorded by name before CreateSecurityGroup returned its id.
    await ec2.send(new CreateSecurityGroupCommand({GroupName: 'box-proj-web-crashed', Description: 'crashed'}));
    const s: AwsMachineState = {phase: 'creating', region: 'us-east-1', token, ami: UBUNTU_AMI, amiSource: 'test', instanceType: 't3.micro', elasticIps: [], sshUsername: 'admin', sshInterface: 'public', securityGroup: {name: 'box-proj-web-crashed', managed: true}};
    await mkdir(path.join(work.dir, '.box', 'machines', 'web'), {recursive: true});
    await writeMachineState(work.dir, {machine: 'web', target: 'aws', createdAt: new Date().toISOString(), provisioned: false, provider: s as unknown as Record<string, unknown>});
    const ctx = awsContext(work.dir, awsMachine('web', {ami: UBUNTU_AMI, ssh_cidr: '203.0.113.4/32'}));
    const status = await new AwsProvider().status(ctx);
    assert.equal(status.status, 'broken');
    assert.equal(status.repair, 'box destroy web');
    await new AwsProvider().destroy(ctx);
    const after = await ec2.send(new DescribeInstancesCommand({InstanceIds: [run.Instances![0].InstanceId!]}));
    assert.equal(after.Reservations?.[0]?.Instances?.[0]?.State?.Name, 'terminated');
    assert.deepEqual(await boxGroups(), [], 'the group recorded only by name is found and deleted');
  });

  test('an instance-store mapping with EBS fields is refused with the field named', async () => {
    const ctx = awsContext(work.dir, awsMachine('web', {ami: UBUNTU_AMI, ssh_cidr: '203.0.113.4/32', block_device_mappings: [{device_name: '/dev/sdc', virtual_name: 'ephemeral0', volume_size: 10}]}));
    await assert.rejects(new AwsProvider().up(ctx), (e: BoxError) => e.code === 'ERR_AWS_BLOCK_DEVICE' && e.message.includes('block_device_mappings[0]') && e.message.includes('volume_size'));
    assert.deepEqual(await keyPairs(), []);
  });

  describe('through a fault-injecting proxy', () => {
    test('throttled calls are retried with backoff and then succeed', async () => {
      const proxy = await startFaultProxy(moto.url, [{action: 'DescribeInstances', status: 400, code: 'RequestLimitExceeded', times: 2}]);
      try {
        const ctx = awsContext(work.dir, awsMachine('web', {ami: UBUNTU_AMI, ssh_cidr: '203.0.113.4/32', endpoint: proxy.url}));
        await new AwsProvider().up(ctx);
        assert.equal((await new AwsProvider().status(ctx)).status, 'running');
        assert.ok((proxy.hits.get('DescribeInstances') ?? 0) >= 3, 'the throttled calls were retried');
        await new AwsProvider().destroy(ctx);
      } finally {
        await proxy.close();
      }
    });

    test('insufficient capacity gives a clear error and leaves nothing running, no key pair and no group', async () => {
      const proxy = await startFaultProxy(moto.url, [{action: 'RunInstances', status: 500, code: 'InsufficientInstanceCapacity', message: 'We currently do not have sufficient t3.small capacity'}]);
      process.env.BOX_AWS_MAX_ATTEMPTS = '2';
      try {
        const ctx = awsContext(work.dir, awsMachine('web', {ami: UBUNTU_AMI, instance_type: 't3.small', ssh_cidr: '203.0.113.4/32', endpoint: proxy.url}));
        await assert.rejects(new AwsProvider().up(ctx), (e: BoxError) => e.code === 'ERR_AWS_CAPACITY' && e.message.includes('"t3.small"') && /Nothing was left running/.test(e.hint ?? ''));
        assert.equal(proxy.hits.get('RunInstances'), 2, 'a 5xx is retried (same ClientToken) up to the attempt limit');
        assert.equal((await liveInstances()).length, 0);
        assert.deepEqual(await boxGroups(), []);
        assert.deepEqual(await keyPairs(), []);
        assert.equal(await readMachineState(work.dir, 'web'), undefined);
      } finally {
        delete process.env.BOX_AWS_MAX_ATTEMPTS;
        await proxy.close();
      }
    });

    test('rejected credentials give ERR_AWS_AUTH and the error never contains them', async () => {
      const proxy = await startFaultProxy(moto.url, [{action: 'DescribeImages', status: 401, code: 'AuthFailure', message: `AWS was not able to validate the provided access credentials ${DUMMY_ACCESS_KEY}`}]);
      try {
        const ctx = awsContext(work.dir, awsMachine('web', {ami_filter: {owner: 'self', name: 'x'}, ssh_cidr: '203.0.113.4/32', endpoint: proxy.url}));
        const error = await new AwsProvider().up(ctx).then(() => undefined, (e: BoxError) => e);
        assert.equal(error?.code, 'ERR_AWS_AUTH');
        const shown = JSON.stringify(error?.toJSON()) + String(error?.message);
        assert.ok(!shown.includes(DUMMY_ACCESS_KEY) && !shown.includes(DUMMY_SECRET), shown);
      } finally {
        await proxy.close();
      }
    });

    test('an unauthorized RunInstances names the action and removes the key pair and group it made', async () => {
      const proxy = await startFaultProxy(moto.url, [{action: 'RunInstances', status: 403, code: 'UnauthorizedOperation', message: 'You are not authorized to perform this operation. Encoded authorization failure message: abc'}]);
      try {
        const ctx = awsContext(work.dir, awsMachine('web', {ami: UBUNTU_AMI, ssh_cidr: '203.0.113.4/32', endpoint: proxy.url}));
        await assert.rejects(new AwsProvider().up(ctx), (e: BoxError) => e.code === 'ERR_AWS_UNAUTHORIZED' && e.message.includes('RunInstances'));
        assert.deepEqual(await boxGroups(), []);
        assert.deepEqual(await keyPairs(), []);
      } finally {
        await proxy.close();
      }
    });
  });
});
