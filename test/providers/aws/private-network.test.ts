import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {DescribeSecurityGroupsCommand, EC2Client} from '@aws-sdk/client-ec2';
import type {Project} from '../../../src/boxfile/project.js';
import {ensureProjectGroup, projectGroupName, releaseProjectGroup, sharedSubnet, subnetAddressProblem} from '../../../src/providers/aws/private-network.js';
import {DUMMY_ACCESS_KEY, DUMMY_SECRET} from '../../helpers/moto.js';
import {motoSuite} from './moto-suite.js';

describe('the aws private network\'s address rules', () => {
  test('an address inside the subnet and not reserved by AWS is fine', () => {
    assert.equal(subnetAddressProblem('172.31.0.4', '172.31.0.0/20'), undefined);
    assert.equal(subnetAddressProblem('172.31.15.254', '172.31.0.0/20'), undefined);
  });
  test('outside the subnet, or one of the five addresses AWS reserves, is a problem naming the CIDR', () => {
    assert.match(subnetAddressProblem('172.31.16.5', '172.31.0.0/20')!, /outside the subnet 172\.31\.0\.0\/20/);
    assert.match(subnetAddressProblem('10.0.0.5', '172.31.0.0/20')!, /outside/);
    for (const reserved of ['172.31.0.0', '172.31.0.1', '172.31.0.3', '172.31.15.255']) {
      assert.match(subnetAddressProblem(reserved, '172.31.0.0/20')!, /reserves/, reserved);
    }
  });
  test('the project group is named after the project', () => {
    assert.equal(projectGroupName({name: 'shop'}), 'box-shop-private');
  });
});

describe('the aws project security group against moto', () => {
  const suite = motoSuite({prefix: 'box-aws-pgroup', inProcess: true});
  const ui = {info() {}, warn() {}, stage() {}} as never;

  test('machines asking for it at once in one process share one lookup and one CreateSecurityGroup; release deletes it once empty', async () => {
    // Through the proxy, which counts the calls.
    const client = new EC2Client({region: 'us-east-1', endpoint: suite.proxy.url, credentials: {accessKeyId: DUMMY_ACCESS_KEY, secretAccessKey: DUMMY_SECRET}});
    const project = {name: 'shop', root: suite.work} as Project;
    const subnet = await sharedSubnet(client, undefined, 'us-east-1');
    const [a, b, c] = await Promise.all([1, 2, 3].map(() => ensureProjectGroup(client, {project, vpcId: subnet.vpcId, region: 'us-east-1'})));
    assert.equal(a!.id, b!.id);
    assert.equal(b!.id, c!.id);
    assert.equal(suite.proxy.hits.get('DescribeSecurityGroups'), 1);
    assert.equal(suite.proxy.hits.get('CreateSecurityGroup'), 1);
    const [group] = (await suite.ec2.send(new DescribeSecurityGroupsCommand({GroupIds: [a!.id]}))).SecurityGroups!;
    assert.ok(group!.IpPermissions?.some((p) => p.IpProtocol === '-1' && p.UserIdGroupPairs?.[0]?.GroupId === a!.id));
    // A later up finds it instead of creating another.
    assert.equal((await ensureProjectGroup(client, {project, vpcId: subnet.vpcId, region: 'us-east-1'})).id, a!.id);
    assert.equal(suite.proxy.hits.get('CreateSecurityGroup'), 1);
    assert.equal(await releaseProjectGroup(client, a!, 'us-east-1', ui), 'deleted');
    assert.deepEqual((await suite.ec2.send(new DescribeSecurityGroupsCommand({Filters: [{Name: 'group-name', Values: ['box-shop-private']}]}))).SecurityGroups, []);
  });
});
