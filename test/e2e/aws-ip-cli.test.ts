import {afterEach, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {readFile} from 'node:fs/promises';
import path from 'node:path';
import {AllocateAddressCommand, DescribeAddressesCommand} from '@aws-sdk/client-ec2';
import {box, boxJson} from '../helpers/cli.js';
import {motoSuite} from '../providers/aws/moto-suite.js';
import {awsBoxfile} from '../helpers/aws-boxfile.js';
import {fakeSshEnv} from '../helpers/fake-ssh.js';

// Elastic IPs cost money while allocated: every `ip` command and `destroy` must see all the
// addresses EC2 holds for a machine, not only the allocation id box recorded.
describe('box ip and destroy act on every Elastic IP tagged for the machine (CLI against moto)', () => {
  const suite = motoSuite({prefix: 'box-eip', boxfile: awsBoxfile('eip-demo')});
  afterEach(async () => {
    await box(['destroy', '--force'], {cwd: suite.work, boxHome: suite.home, env: {...suite.moto.env, ...fakeSshEnv()}}).catch(() => undefined);
  });

  // Through the proxy, so a test can lose an answer after moto acted.
  const env = () => ({...suite.moto.env, ...fakeSshEnv(), AWS_ENDPOINT_URL_EC2: suite.proxy.url});
  const run = (args: string[]) => box(args, {cwd: suite.work, boxHome: suite.home, env: env()});
  const runJson = (args: string[]) => boxJson(args, {cwd: suite.work, boxHome: suite.home, env: env()});
  const addresses = async () => (await suite.ec2.send(new DescribeAddressesCommand({}))).Addresses ?? [];
  /** A second address of the machine's allocation, as a retried AllocateAddress leaves it (same tags). */
  const copyOf = async (allocationId: string) => {
    const [original] = (await suite.ec2.send(new DescribeAddressesCommand({AllocationIds: [allocationId]}))).Addresses!;
    return (await suite.ec2.send(new AllocateAddressCommand({Domain: 'vpc', TagSpecifications: [{ResourceType: 'elastic-ip', Tags: original.Tags}]}))).AllocationId!;
  };

  test('an AllocateAddress whose answer was lost and retried leaves one address, not two', async () => {
    assert.equal((await run(['up'])).exitCode, 0);
    suite.proxy.faults = [{action: 'AllocateAddress', after: 'drop', times: 1}];
    const allocated = await runJson(['ip', 'allocate']);
    assert.equal(allocated.result.exitCode, 0, String(allocated.result.stderr));
    assert.equal(suite.proxy.hits.get('AllocateAddress'), 2, 'the SDK sent AllocateAddress again');
    assert.deepEqual((await addresses()).map((a) => a.AllocationId), [allocated.json.addresses[0].allocationId]);
    const state = JSON.parse(await readFile(path.join(suite.work, '.box/machines/default/state.json'), 'utf8'));
    assert.equal(state.provider.elasticIps[0].allocationId, allocated.json.addresses[0].allocationId);
  });

  test('ip list shows, and ip release frees, every copy of the allocation; destroy frees every address tagged for the machine', async () => {
    assert.equal((await run(['up'])).exitCode, 0);
    const allocated = await runJson(['ip', 'allocate']);
    const recorded = allocated.json.addresses[0].allocationId;
    const copy = await copyOf(recorded);
    const listed = await runJson(['ip', 'list']);
    assert.deepEqual(listed.json.addresses.map((a: {allocationId: string}) => a.allocationId).sort(), [recorded, copy].sort());
    const released = await runJson(['ip', 'release']);
    assert.equal(released.result.exitCode, 0, String(released.result.stderr));
    assert.deepEqual(released.json.addresses, []);
    assert.deepEqual(await addresses(), [], 'no paid address is left after ip release');

    const again = (await runJson(['ip', 'allocate'])).json.addresses[0].allocationId;
    await copyOf(again);
    assert.equal((await run(['destroy', '--force'])).exitCode, 0);
    assert.deepEqual(await addresses(), [], 'destroy released the recorded address and its copy');
  });
});
