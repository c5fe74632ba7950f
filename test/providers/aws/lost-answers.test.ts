import {after, afterEach, before, beforeEach, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {
  CreateSecurityGroupCommand, DescribeInstancesCommand, DescribeKeyPairsCommand, DescribeSecurityGroupsCommand, EC2Client, ImportKeyPairCommand,
} from '@aws-sdk/client-ec2';
import {generateKeyPair} from '../../../src/communicators/keys.js';
import {BoxError} from '../../../src/core/errors.js';
import {AwsProvider} from '../../../src/providers/aws/aws-provider.js';
import {setAwsCommunicatorFactory} from '../../../src/providers/aws/communicator-factory.js';
import {FakeCommunicator} from '../../../src/providers/aws/fake-communicator.js';
import {createSecurityGroup, importKeyPair} from '../../../src/providers/aws/resources.js';
import {tempDir} from '../../helpers/cli.js';
import {startMoto, useMotoEnv, type Moto} from '../../helpers/moto.js';
import {startFaultProxy, type FaultProxy} from './fault-proxy.js';
import {awsContext, awsMachine} from './machine.js';

const UBUNTU_AMI = 'ami-1e749f67';

// A creating call whose answer is lost after EC2 acted (connection reset): the SDK sends it
// again and EC2 answers "Duplicate". The fault proxy forwards the first request to moto, then
// resets the connection instead of answering.
describe('creating calls whose answer was lost after EC2 acted', () => {
  let moto: Moto;
  let restoreEnv: () => void;
  let ec2: EC2Client;
  let proxy: FaultProxy;
  let work: {dir: string; cleanup: () => Promise<void>};
  let home: {dir: string; cleanup: () => Promise<void>};

  before(async () => {
    moto = await startMoto();
    restoreEnv = useMotoEnv(moto);
    ec2 = new EC2Client({region: 'us-east-1'});
    proxy = await startFaultProxy(moto.url);
    setAwsCommunicatorFactory(async (info, dir) => new FakeCommunicator(dir, info));
  });
  after(async () => {
    setAwsCommunicatorFactory(undefined);
    await proxy?.close();
    restoreEnv?.();
    await moto?.stop();
  });
  beforeEach(async () => {
    await moto.reset();
    proxy.faults = [];
    proxy.hits.clear();
    work = await tempDir('box-lost-');
    home = await tempDir('box-lost-home-');
    process.env.BOX_HOME = home.dir;
  });
  afterEach(async () => {
    delete process.env.BOX_HOME;
    await work.cleanup();
    await home.cleanup();
  });

  const keyPairs = async () => (await ec2.send(new DescribeKeyPairsCommand({}))).KeyPairs ?? [];
  const groups = async () => ((await ec2.send(new DescribeSecurityGroupsCommand({}))).SecurityGroups ?? []).filter((g) => g.GroupName !== 'default');

  test('up adopts its own key pair, group and SSH rule when ImportKeyPair, CreateSecurityGroup and AuthorizeSecurityGroupIngress are retried', async () => {
    proxy.faults = ['ImportKeyPair', 'CreateSecurityGroup', 'AuthorizeSecurityGroupIngress'].map((action) => ({action, after: 'drop' as const, times: 1}));
    const ctx = awsContext(work.dir, awsMachine('web', {ami: UBUNTU_AMI, ssh_cidr: '203.0.113.4/32', endpoint: proxy.url}));
    const provider = new AwsProvider();
    assert.deepEqual(await provider.up(ctx), {created: true});
    for (const action of ['ImportKeyPair', 'CreateSecurityGroup', 'AuthorizeSecurityGroupIngress']) assert.equal(proxy.hits.get(action), 2, `${action} was sent twice`);
    assert.equal((await keyPairs()).length, 1);
    const [group] = await groups();
    assert.deepEqual(group.IpPermissions?.map((p) => [p.FromPort, p.IpRanges?.map((r) => r.CidrIp)]), [[22, ['203.0.113.4/32']]]);
    const instances = ((await ec2.send(new DescribeInstancesCommand({}))).Reservations ?? []).flatMap((r) => r.Instances ?? []);
    assert.deepEqual(instances.map((i) => i.SecurityGroups?.[0]?.GroupId), [group.GroupId]);
    await provider.destroy(ctx);
    assert.deepEqual(await keyPairs(), [], 'the adopted key pair is deleted with the machine');
    assert.deepEqual(await groups(), [], 'the adopted group is deleted with the machine');
  });

  test('a key pair or group of the same name that is not box\'s is never adopted', async () => {
    const mine = generateKeyPair('box-test');
    const theirs = generateKeyPair('someone-else');
    await ec2.send(new ImportKeyPairCommand({KeyName: 'taken', PublicKeyMaterial: Buffer.from(theirs.publicKey)}));
    await assert.rejects(importKeyPair(ec2, {name: 'taken', publicKey: mine.publicKey, tags: [{Key: 'box:machine', Value: 'web'}], region: 'us-east-1'}), (e: BoxError) => e.code === 'ERR_AWS_KEY_PAIR_EXISTS');
    assert.equal(await importKeyPair(ec2, {name: 'taken', publicKey: theirs.publicKey, tags: [{Key: 'box:machine', Value: 'web'}], region: 'us-east-1'}), (await keyPairs())[0].KeyPairId, 'the same public key is adopted');

    await ec2.send(new CreateSecurityGroupCommand({GroupName: 'taken', Description: 'not box', TagSpecifications: [{ResourceType: 'security-group', Tags: [{Key: 'box:machine', Value: 'other'}]}]}));
    await assert.rejects(createSecurityGroup(ec2, {name: 'taken', description: 'x', tags: [{Key: 'box:machine', Value: 'web'}], region: 'us-east-1'}), (e: BoxError) => e.code === 'ERR_AWS_GROUP_EXISTS');
  });
});
