/**
 * The EC2 API misbehaving under box, through a fault-injecting proxy in front of moto: delays,
 * throttling, HTTP 500s (EC2 error documents and HTML pages), and responses dropped AFTER moto
 * acted (the SDK retries something that already happened), on up, halt, destroy, ip, sweep and
 * the AMI bake. Each case asserts the exit code, the message, and that no duplicate or leaked
 * resource is left. Then two box commands on one aws project at once.
 */
import assert from 'node:assert/strict';
import {setTimeout as sleep} from 'node:timers/promises';
import {after, before, describe, test} from 'node:test';
import {DescribeAddressesCommand, DescribeImagesCommand, DescribeKeyPairsCommand, DescribeSecurityGroupsCommand, RunInstancesCommand, paginateDescribeInstances, type EC2Client} from '@aws-sdk/client-ec2';
import {startMoto, type Moto} from '../helpers/moto.js';
import {startFaultProxy, type Fault as ProxyFault, type FaultProxy} from '../providers/aws/fault-proxy.js';
import {awsCases, type AwsCase} from './aws-case.js';
import {awsBoxfile} from '../helpers/aws-boxfile.js';
import {UNEXPECTED, assertInterrupted, describeRun, type BoxRun} from './harness.js';

const BOXFILE = awsBoxfile('proxy-faults');
const TEMPLATE = 'name: proxy-bake\nversion: 0.1.0\nmethod: box\nsource: box base\npost_install:\n  - inline: ["true"]\n';

const live = async (ec2: EC2Client) => {
  const found = [];
  // Every page: moto, like EC2, answers at most 100 reservations at a time.
  for await (const page of paginateDescribeInstances({client: ec2}, {Filters: [{Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped']}]})) {
    found.push(...(page.Reservations ?? []).flatMap((r) => r.Instances ?? []));
  }
  return found;
};
const keyPairs = async (ec2: EC2Client) => (await ec2.send(new DescribeKeyPairsCommand({}))).KeyPairs ?? [];
const groups = async (ec2: EC2Client) => ((await ec2.send(new DescribeSecurityGroupsCommand({}))).SecurityGroups ?? []).filter((g) => g.GroupName !== 'default');
const addresses = async (ec2: EC2Client) => (await ec2.send(new DescribeAddressesCommand({}))).Addresses ?? [];
const images = async (ec2: EC2Client) => (await ec2.send(new DescribeImagesCommand({Owners: ['self']}))).Images ?? [];

function ok(run: BoxRun): void {
  assert.equal(run.exitCode, 0, describeRun(run));
  assert.doesNotMatch(run.stdout + run.stderr, UNEXPECTED, describeRun(run));
}

describe('a misbehaving EC2 API (fault proxy in front of moto)', {timeout: 20 * 60_000, concurrency: 2}, () => {
  let moto: Moto;
  let cases: ReturnType<typeof awsCases>;

  before(async () => {
    moto = await startMoto();
    // A few retries, fast: the SDK's own retry is what these cases exercise.
    cases = awsCases(moto, {boxfile: BOXFILE, files: {'tpl/template.yaml': TEMPLATE}, env: {BOX_AWS_MAX_ATTEMPTS: '4'}});
  });
  after(async () => {
    await moto?.stop();
  });

  /** A case whose box commands all go through a proxy with these faults. */
  const withProxy = (label: string, faults: ProxyFault[], fn: (c: AwsCase, proxy: FaultProxy) => Promise<void>) => cases(label, async (c) => {
    const proxy = await startFaultProxy(moto.url, faults);
    c.sandbox.env.AWS_ENDPOINT_URL_EC2 = proxy.url;
    try {
      await fn(c, proxy);
    } finally {
      await proxy.close();
    }
  });
  const bake = (c: AwsCase) => c.sandbox.json(['build', 'tpl', '--template-dir', c.sandbox.project, '--target', 'aws', '--output', c.sandbox.out]);

  test('up: every call 1 s late still comes up, and destroy leaves nothing', () => withProxy('delay', [{action: 'RunInstances', delayMs: 1000}, {action: 'DescribeInstances', delayMs: 1000, times: 4}], async (c) => {
    ok(await c.sandbox.json(['up']));
    assert.equal((await live(c.ec2)).length, 1);
    ok(await c.sandbox.json(['destroy', '--force']));
    await c.clean('delays');
  }));

  test('up: throttled DescribeInstances (RequestLimitExceeded) is retried and comes up', () => withProxy('throttle', [{action: 'DescribeInstances', status: 503, code: 'RequestLimitExceeded', times: 3}], async (c, proxy) => {
    ok(await c.sandbox.json(['up']));
    assert.ok(proxy.requests.filter((l) => l.fault).length === 3, 'the throttling happened');
    ok(await c.sandbox.json(['destroy', '--force']));
    await c.clean('throttling');
  }));

  test('up: an HTTP 500 InternalError on RunInstances is retried with the same client token: one instance', () => withProxy('500', [{action: 'RunInstances', status: 500, code: 'InternalError', times: 2}], async (c) => {
    ok(await c.sandbox.json(['up']));
    assert.equal((await live(c.ec2)).length, 1);
    ok(await c.sandbox.json(['destroy', '--force']));
    await c.clean('500 on RunInstances');
  }));

  test('up: a RunInstances response lost after EC2 launched the instance: one instance, not two', () => withProxy('drop-run', [{action: 'RunInstances', after: 'drop', times: 1}], async (c) => {
    const up = await c.sandbox.json(['up']);
    assert.equal((await live(c.ec2)).length <= 1, true, `no duplicate instance:\n${describeRun(up)}`);
    ok(up);
    ok(await c.sandbox.json(['destroy', '--force']));
    await c.clean('lost RunInstances response');
  }));

  test('up: an ImportKeyPair response lost after EC2 imported the key: box adopts its own key pair (issue 10, AWS 7)', () => withProxy('drop-key', [{action: 'ImportKeyPair', after: 'drop', times: 1}], async (c) => {
    const up = await c.sandbox.json(['up']);
    ok(up);
    assert.equal((await keyPairs(c.ec2)).length, 1);
    ok(await c.sandbox.json(['destroy', '--force']));
    await c.clean('lost ImportKeyPair response');
  }));

  test('up: a CreateSecurityGroup response lost after EC2 created the group: box adopts its own group (issue 10, AWS 7)', () => withProxy('drop-sg', [{action: 'CreateSecurityGroup', after: 'drop', times: 1}], async (c) => {
    const up = await c.sandbox.json(['up']);
    ok(up);
    assert.equal((await groups(c.ec2)).length, 1);
    ok(await c.sandbox.json(['destroy', '--force']));
    await c.clean('lost CreateSecurityGroup response');
  }));

  test('up: an endpoint answering an HTML 500 says so clearly, without an SDK parse error, and leaves nothing (issue 10, AWS 7)', () => withProxy('html', [{action: 'RunInstances', status: 500, html: true}], async (c) => {
    const up = await c.sandbox.json(['up']);
    assert.doesNotMatch(up.stdout, UNEXPECTED);
    assert.doesNotMatch(up.json.error.message, /Deserialization|XML|char '<'|parse/i, `the message is about the endpoint, not the SDK's parser:\n${describeRun(up)}`);
    assert.match(up.json.error.message, /RunInstances/, `it names the call that failed:\n${describeRun(up)}`);
    assert.doesNotMatch(up.json.error.message, /Unknown: Unknown/, `it says what the endpoint answered:\n${describeRun(up)}`);
    assert.match(up.json.error.message, /endpoint|HTTP 500|not support/i, `it says what the endpoint answered:\n${describeRun(up)}`);
    assert.equal(up.exitCode, 1, describeRun(up));
    assert.doesNotMatch(up.stderr, /was left as it is/, describeRun(up));
    await c.clean('HTML 500');
  }));

  test('halt: a StopInstances response lost after EC2 acted is retried; the machine is stopped', () => withProxy('drop-stop', [], async (c, proxy) => {
    ok(await c.sandbox.json(['up']));
    proxy.faults = [{action: 'StopInstances', after: 'drop', times: 1}];
    const halt = await c.sandbox.json(['halt']);
    ok(halt);
    assert.equal(halt.json.machines[0].status, 'stopped');
    ok(await c.sandbox.json(['destroy', '--force']));
    await c.clean('lost StopInstances response');
  }));

  test('destroy: a TerminateInstances response lost after EC2 acted is retried; nothing is left', () => withProxy('drop-term', [], async (c, proxy) => {
    ok(await c.sandbox.json(['up']));
    proxy.faults = [{action: 'TerminateInstances', after: 'drop', times: 1}, {action: 'DeleteSecurityGroup', status: 503, code: 'RequestLimitExceeded', times: 1}];
    ok(await c.sandbox.json(['destroy', '--force']));
    await c.clean('lost TerminateInstances response');
  }));

  test('ip: an AllocateAddress response lost after EC2 allocated: release and destroy free every Elastic IP of the machine (issue 10, AWS 3)', () => withProxy('drop-eip', [], async (c, proxy) => {
    ok(await c.sandbox.json(['up']));
    proxy.faults = [{action: 'AllocateAddress', after: 'drop', times: 1}];
    ok(await c.sandbox.json(['ip', 'allocate']));
    proxy.faults = [];
    ok(await c.sandbox.json(['ip', 'release']));
    assert.deepEqual((await addresses(c.ec2)).map((a) => a.AllocationId), [], 'ip release freed every address tagged for the machine');
    ok(await c.sandbox.json(['destroy', '--force']));
    await c.clean('lost AllocateAddress response');
  }));

  test('sweep: throttled and lost calls while removing 105 orphans still remove all of them (issue 10, AWS 4)', () => withProxy('sweep', [], async (c, proxy) => {
    ok(await c.sandbox.json(['up']));
    // 104 more instances of the same project, one launch each (EC2 pages DescribeInstances by
    // reservation): after the project's state is lost, all 105 are orphans.
    const [first] = await live(c.ec2);
    for (let i = 0; i < 104; i += 8) {
      await Promise.all(Array.from({length: Math.min(8, 104 - i)}, () => c.ec2.send(new RunInstancesCommand({ImageId: 'ami-1e749f67', InstanceType: 't3.micro', MinCount: 1, MaxCount: 1, TagSpecifications: [{ResourceType: 'instance', Tags: first.Tags}]}))));
    }
    assert.equal((await live(c.ec2)).length, 105);
    await c.sandbox.reset();
    proxy.faults = [{action: 'DescribeInstances', status: 503, code: 'RequestLimitExceeded', times: 2}, {action: 'TerminateInstances', after: 'drop', times: 1}];
    const sweep = await c.sandbox.json(['sweep']);
    ok(sweep);
    assert.equal((await live(c.ec2)).length, 0, `every orphan instance is gone:\n${describeRun(sweep)}`);
    await c.clean('sweep of 105 orphans');
  }));

  test('bake: a CreateImage response lost after EC2 made the AMI: no untagged AMI is left, after sweep at the latest (issue 10, AWS 2)', () => withProxy('drop-image', [{action: 'CreateImage', after: 'drop', times: 1}], async (c) => {
    const baked = await bake(c);
    assert.doesNotMatch(baked.stdout + baked.stderr, UNEXPECTED, describeRun(baked));
    const made = await images(c.ec2);
    if (baked.exitCode === 0) {
      assert.deepEqual(made.map((i) => i.ImageId), [baked.json.ami], `exactly one AMI, the one box reports:\n${describeRun(baked)}`);
    } else {
      ok(await c.sandbox.json(['sweep', '--images']));
      assert.deepEqual(await images(c.ec2), [], 'sweep found the AMI of the failed bake');
    }
    await c.clean('lost CreateImage response', [/^(image|snapshot) /, /\/out\//, /\/home\/bakes(\/aws)?$/]);
    if (baked.exitCode === 0) {
      ok(await c.sandbox.json(['sweep', '--images']));
      assert.deepEqual(await images(c.ec2), []);
    }
  }));

  test('bake: throttled CreateTags and a 500 on StopInstances are retried; one tagged AMI results', () => withProxy('bake-throttle', [{action: 'CreateTags', status: 503, code: 'RequestLimitExceeded', times: 2}, {action: 'StopInstances', status: 500, code: 'InternalError', times: 1}], async (c) => {
    const baked = await bake(c);
    ok(baked);
    const made = await images(c.ec2);
    assert.equal(made.length, 1);
    assert.ok(made[0].Tags?.some((t) => t.Key === 'box:complete'), 'the AMI is tagged complete');
    ok(await c.sandbox.json(['sweep', '--images']));
    await c.clean('throttled bake', [/\/out\//, /\/home\/bakes(\/aws)?$/]);
  }));
});

describe('two commands on one aws project at once', {timeout: 10 * 60_000, concurrency: 2}, () => {
  let moto: Moto;
  let cases: ReturnType<typeof awsCases>;
  before(async () => {
    moto = await startMoto();
    cases = awsCases(moto, {boxfile: BOXFILE});
  });
  after(async () => {
    await moto?.stop();
  });

  /** Starts `first` paused at `stage`, starts `second`, lets `first` go on after 1 s; both results. */
  async function race(c: AwsCase, first: string[], stage: string, second: string[]): Promise<[BoxRun, BoxRun]> {
    const a = c.sandbox.start([...first, '--json'], {fault: {stage, action: 'pause'}});
    await a.paused();
    const b = c.sandbox.start([...second, '--json']);
    await sleep(1000);
    a.resume();
    return Promise.all([a.done, b.done]);
  }

  test('two ups: the second waits for the first and finds the machine running; one instance', () => cases('two-ups', async (c) => {
    const [a, b] = await race(c, ['up'], 'run-instance', ['up']);
    ok(a);
    ok(b);
    assert.equal(JSON.parse(b.stdout).machines[0].created, false, 'the second up did not create another machine');
    assert.equal((await live(c.ec2)).length, 1);
    ok(await c.sandbox.json(['destroy', '--force']));
    await c.clean('two ups');
  }));

  test('up and destroy: destroy waits for up, then removes everything up made', () => cases('up-destroy', async (c) => {
    const [a, b] = await race(c, ['up'], 'wait-for-running', ['destroy', '--force']);
    ok(a);
    ok(b);
    assert.equal(JSON.parse(b.stdout).machines[0].destroyed, true, describeRun(b));
    await c.clean('up and destroy');
  }));

  test('halt and destroy: both finish and nothing is left', () => cases('halt-destroy', async (c) => {
    ok(await c.sandbox.json(['up']));
    const [a, b] = await race(c, ['halt'], 'halt', ['destroy', '--force']);
    for (const r of [a, b]) assert.doesNotMatch(r.stdout + r.stderr, UNEXPECTED, describeRun(r));
    ok(b);
    if (a.exitCode !== 0) assert.match(a.stdout, /ERR_|not created/i, describeRun(a));
    await c.clean('halt and destroy');
  }));

  test('Ctrl-C of the first of two ups: the second then creates the machine cleanly', () => cases('int-then-up', async (c) => {
    const a = c.sandbox.start(['up', '--json'], {fault: {stage: 'security-group', action: 'pause'}});
    await a.paused();
    const b = c.sandbox.start(['up', '--json']);
    await sleep(500);
    process.kill(-a.pid, 'SIGINT');
    a.resume();
    assertInterrupted(await a.done);
    const second = await b.done;
    ok(second);
    assert.equal((await live(c.ec2)).length, 1);
    ok(await c.sandbox.json(['destroy', '--force']));
    await c.clean('interrupted up, then another');
  }));
});
