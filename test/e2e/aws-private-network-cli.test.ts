import {afterEach, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {readFile, rm, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {DescribeInstancesCommand, DescribeSecurityGroupsCommand, DescribeSubnetsCommand, type Instance} from '@aws-sdk/client-ec2';
import {awsBoxfile} from '../helpers/aws-boxfile.js';
import {box, boxJson} from '../helpers/cli.js';
import {motoSuite} from '../providers/aws/moto-suite.js';
import {fakeSshEnv} from '../helpers/fake-ssh.js';

// The private network on the aws target, against moto (the fake SSH preload stands in for the
// guests): one project security group with a self-referencing rule, every networked machine in
// it, their private IPs in state, status and the hosts files; destroy of the last removes it.
const TWO_MACHINES = `machines:
  web: {networks: [{type: private}]}
  db: {networks: [{type: private}]}
`;

describe('the private network on the aws target against moto', () => {
  const suite = motoSuite({prefix: 'box-aws-net'});
  afterEach(async () => {
    await box(['destroy', '--force'], {cwd: suite.work, boxHome: suite.home, env: {...suite.moto.env, ...fakeSshEnv()}}).catch(() => undefined);
  });

  // Through the fault proxy, which counts the calls box makes.
  const env = () => ({...suite.moto.env, ...fakeSshEnv(), AWS_ENDPOINT_URL_EC2: suite.proxy.url});
  const write = (machines: string, extra = '') => writeFile(path.join(suite.work, 'Boxfile'), `${awsBoxfile('netdemo', extra)}${machines}`);
  const run = (args: string[]) => box(args, {cwd: suite.work, boxHome: suite.home, env: env()});
  const runJson = <T = any>(args: string[]) => boxJson<T>(args, {cwd: suite.work, boxHome: suite.home, env: env()});
  const live = async (): Promise<Instance[]> => (await suite.ec2.send(new DescribeInstancesCommand({Filters: [{Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped']}]}))).Reservations?.flatMap((r) => r.Instances ?? []) ?? [];
  const projectGroups = async () => (await suite.ec2.send(new DescribeSecurityGroupsCommand({Filters: [{Name: 'group-name', Values: ['box-netdemo-private']}]}))).SecurityGroups ?? [];
  const nameOf = (i: Instance) => i.Tags?.find((t) => t.Key === 'box:machine')?.Value;

  test('two machines with networks share one project group with a self-referencing rule; their private IPs reach state, status and the hosts files; destroy of the last removes the group', async () => {
    await write(TWO_MACHINES);
    const up = await runJson(['up', '--json']);
    assert.equal(up.result.exitCode, 0, String(up.result.stderr));

    const groups = await projectGroups();
    assert.equal(groups.length, 1, 'one project group, although both machines went up at once');
    assert.equal(suite.proxy.hits.get('CreateSecurityGroup'), 3, 'two SSH groups and one project group: the machines going up at once shared one lookup');
    const group = groups[0]!;
    assert.equal(group.Tags?.find((t) => t.Key === 'box:project')?.Value, 'netdemo');
    assert.ok(group.IpPermissions?.some((p) => p.IpProtocol === '-1' && p.UserIdGroupPairs?.some((pair) => pair.GroupId === group.GroupId)), JSON.stringify(group.IpPermissions));

    const instances = await live();
    assert.equal(instances.length, 2);
    for (const i of instances) {
      const ids = i.SecurityGroups?.map((g) => g.GroupId) ?? [];
      assert.ok(ids.includes(group.GroupId), `${nameOf(i)} is in the project group`);
      assert.equal(ids.length, 2, `${nameOf(i)} is in its SSH group too`);
    }
    assert.equal(instances[0]!.SubnetId, instances[1]!.SubnetId, 'both in the same subnet');

    const status = await runJson(['status', '--json']);
    const byName = new Map(instances.map((i) => [nameOf(i), i.PrivateIpAddress]));
    for (const m of status.json.machines as Array<{name: string; privateAddress?: string}>) {
      assert.ok(m.privateAddress, `${m.name} has a private address`);
      assert.equal(m.privateAddress, byName.get(m.name));
      const state = JSON.parse(await readFile(path.join(suite.work, '.box/machines', m.name, 'state.json'), 'utf8'));
      assert.deepEqual(state.privateNetwork, {ip: byName.get(m.name)});
    }
    // The hosts block went to web over its communicator, naming db by its private IP.
    const webLog = await readFile(path.join(suite.work, '.box/machines/web/fake-ssh.log'), 'utf8');
    assert.ok(webLog.includes(`${byName.get('db')} db db.netdemo`), 'web\'s /etc/hosts names db');

    const sweep = await runJson(['sweep', '--dry-run']);
    assert.deepEqual(sweep.json.resources, [], 'sweep keeps the group while machines record it');

    const one = await run(['destroy', '--force', 'db']);
    assert.equal(one.exitCode, 0, String(one.stderr));
    assert.equal((await projectGroups()).length, 1, 'the group stays while web is in it');
    const last = await run(['destroy', '--force', 'web']);
    assert.equal(last.exitCode, 0, String(last.stderr));
    assert.deepEqual(await projectGroups(), [], 'the destroy of the last machine removes the group');
    assert.deepEqual((await suite.ec2.send(new DescribeSecurityGroupsCommand({Filters: [{Name: 'tag:box:project', Values: ['netdemo']}]}))).SecurityGroups ?? [], []);
  });

  test('destroying all networked machines at once removes the project group', async () => {
    await write(TWO_MACHINES);
    assert.equal((await run(['up'])).exitCode, 0);
    assert.equal((await projectGroups()).length, 1);
    const destroy = await run(['destroy', '--force']);
    assert.equal(destroy.exitCode, 0, String(destroy.stderr));
    assert.deepEqual(await live(), []);
    assert.deepEqual(await projectGroups(), []);
  });

  test('sweep lists the project group as an orphan once no project state knows it', async () => {
    await write(TWO_MACHINES);
    assert.equal((await run(['up'])).exitCode, 0);
    await rm(path.join(suite.work, '.box'), {recursive: true, force: true});
    const dry = await runJson(['sweep', '--dry-run']);
    assert.ok(dry.json.resources.some((r: {type: string; name: string}) => r.type === 'security-group' && r.name === 'box-netdemo-private'), JSON.stringify(dry.json.resources));
    const swept = await runJson(['sweep']);
    assert.ok(swept.json.resources.every((r: {removed: boolean}) => r.removed), JSON.stringify(swept.json.resources));
    assert.deepEqual(await projectGroups(), []);
  });

  test('an explicit ip inside the shared subnet is the instance\'s private IP', async () => {
    const subnets = (await suite.ec2.send(new DescribeSubnetsCommand({Filters: [{Name: 'default-for-az', Values: ['true']}]}))).Subnets ?? [];
    const first = [...subnets].sort((a, b) => a.AvailabilityZone!.localeCompare(b.AvailabilityZone!))[0]!;
    const base = first.CidrBlock!.split('/')[0]!.split('.').map(Number);
    const ip = [base[0], base[1], base[2], 50].join('.');
    await write(`machines:\n  db: {networks: [{type: private, ip: ${ip}}]}\n`);
    const up = await run(['up']);
    assert.equal(up.exitCode, 0, String(up.stderr));
    const [instance] = await live();
    assert.equal(instance!.PrivateIpAddress, ip);
    assert.equal(instance!.SubnetId, first.SubnetId);
  });

  test('an explicit ip outside the shared subnet is refused at its Boxfile line and column, before anything is made', async () => {
    await write('machines:\n  db:\n    networks: [{type: private, ip: 10.77.1.20}]\n');
    const up = await run(['up']);
    assert.equal(up.exitCode, 2, String(up.stderr));
    assert.match(String(up.stderr), /Boxfile:12:\d+.*10\.77\.1\.20 is outside the subnet/s);
    assert.deepEqual(await live(), []);
    assert.deepEqual(await projectGroups(), []);
    assert.deepEqual(((await suite.ec2.send(new DescribeSecurityGroupsCommand({Filters: [{Name: 'tag-key', Values: ['box:host']}]}))).SecurityGroups ?? []), [], 'no SSH group either');
  });

  test('networks added to a machine created without them is refused by up (its instance is not in the group), not ignored', async () => {
    await write('machines:\n  db: {}\n');
    assert.equal((await run(['up'])).exitCode, 0);
    await write(TWO_MACHINES.replace('  web: {networks: [{type: private}]}\n', ''));
    const up = await run(['up']);
    assert.equal(up.exitCode, 1, String(up.stderr));
    assert.match(String(up.stderr), /db was created before it had `networks`.*box destroy db/s);
    assert.deepEqual(await projectGroups(), []);
  });
});
