import {after, afterEach, before, beforeEach, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {createReadStream} from 'node:fs';
import {mkdir, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {pipeline} from 'node:stream/promises';
import tar from 'tar-stream';
import {
  CreateKeyPairCommand, DeleteTagsCommand, DescribeImagesCommand, DescribeInstancesCommand, DescribeKeyPairsCommand, DescribeSecurityGroupsCommand, DescribeSnapshotsCommand, EC2Client,
} from '@aws-sdk/client-ec2';
import {loadTemplate} from '../../../src/builder/template.js';
import type {Communicator} from '../../../src/communicators/communicator.js';
import {BoxError} from '../../../src/core/errors.js';
import {silentUi} from '../../../src/core/ui.js';
import {AwsProvider} from '../../../src/providers/aws/aws-provider.js';
import {setAwsCommunicatorFactory} from '../../../src/providers/aws/communicator-factory.js';
import {TAG} from '../../../src/providers/aws/tags.js';
import {bakeAmi} from '../../../src/services/aws-bake.js';
import {sweep} from '../../../src/services/sweep.js';
import {readMachineState} from '../../../src/core/state.js';
import type {AwsMachineState} from '../../../src/providers/aws/machine-state.js';
import {tempDir} from '../../helpers/cli.js';
import {startMoto, useMotoEnv, type Moto} from '../../helpers/moto.js';
import {awsContext, awsMachine} from './machine.js';
import os from 'node:os';

const UBUNTU_AMI = 'ami-1e749f67';

async function readBoxMetadata(boxPath: string): Promise<Record<string, unknown>> {
  const extract = tar.extract();
  let metadata: Record<string, unknown> | undefined;
  extract.on('entry', (header, stream, next) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      if (header.name === 'metadata.json') metadata = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      next();
    });
  });
  await pipeline(createReadStream(boxPath), extract);
  return metadata!;
}

describe('AMI bake (box build --target aws) against moto', () => {
  let moto: Moto;
  let restoreEnv: () => void;
  let ec2: EC2Client;
  let work: {dir: string; cleanup: () => Promise<void>};
  let home: {dir: string; cleanup: () => Promise<void>};
  /** What the (fake) communicator was asked to do; `exitCode` / `onExec` steer it. */
  let calls: string[];
  let exitCode: number;
  let onExec: (() => void) | undefined;

  before(async () => {
    moto = await startMoto();
    restoreEnv = useMotoEnv(moto);
    ec2 = new EC2Client({region: 'us-east-1'});
    setAwsCommunicatorFactory(async (info): Promise<Communicator> => ({
      waitForReady: async () => { calls.push(`wait ${info.username}@${info.host}`); },
      exec: async (command, o) => { calls.push(`exec${o?.sudo ? ' sudo' : ''} ${command}`); onExec?.(); return exitCode; },
      upload: async (local, remote) => { calls.push(`upload ${path.basename(local)} ${remote}`); },
      close: async () => undefined,
    }));
  });
  after(async () => {
    setAwsCommunicatorFactory(undefined);
    restoreEnv?.();
    await moto?.stop();
  });
  beforeEach(async () => {
    await moto.reset();
    work = await tempDir('box-bake-');
    home = await tempDir('box-bake-home-');
    process.env.BOX_HOME = home.dir;
    calls = [];
    exitCode = 0;
    onExec = undefined;
    await mkdir(path.join(work.dir, 'tpl'));
    await writeFile(path.join(work.dir, 'tpl', 'template.yaml'), [
      'name: web-base', 'version: 1.2.0', 'method: box', 'source: box base',
      'ssh: {username: admin}',
      'post_install:', '  - inline: ["echo baked > /etc/baked"]', '  - script: setup.sh',
    ].join('\n') + '\n');
    await writeFile(path.join(work.dir, 'tpl', 'setup.sh'), '#!/bin/sh\napt-get install -y nginx\n');
  });
  afterEach(async () => {
    delete process.env.BOX_HOME;
    await work.cleanup();
    await home.cleanup();
  });

  const leftovers = async () => ({
    instances: ((await ec2.send(new DescribeInstancesCommand({Filters: [{Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped']}]}))).Reservations ?? []).flatMap((r) => r.Instances ?? []).length,
    keyPairs: ((await ec2.send(new DescribeKeyPairsCommand({}))).KeyPairs ?? []).length,
    groups: ((await ec2.send(new DescribeSecurityGroupsCommand({}))).SecurityGroups ?? []).filter((g) => g.GroupName !== 'default').length,
  });
  const selfImages = async () => (await ec2.send(new DescribeImagesCommand({Owners: ['self']}))).Images ?? [];
  const bake = async (signal = new AbortController().signal) => bakeAmi({
    template: await loadTemplate(path.join(work.dir, 'tpl')), aws: {ami: UBUNTU_AMI, ssh_cidr: '203.0.113.4/32', instance_type: 't3.small', tags: {team: 'infra'}},
    outputDir: path.join(work.dir, 'out'), ui: silentUi(), signal,
  });

  test('a bake provisions the source instance, creates a tagged AMI, removes its temporary resources and writes an aws box that up can use', async () => {
    const result = await bake();
    assert.match(result.ami, /^ami-/);
    assert.equal(result.sourceAmi, UBUNTU_AMI);
    assert.deepEqual(calls.map((c) => c.split(' ').slice(0, 2).join(' ')), ['wait admin@' + calls[0].split('@')[1], 'exec sudo', 'upload setup.sh', 'exec sudo']);
    assert.match(calls[1], /echo baked > \/etc\/baked/);
    const [image] = await selfImages();
    assert.equal(image.ImageId, result.ami);
    assert.equal(image.State, 'available');
    assert.match(image.Name!, /^web-base-1\.2\.0-\d{8}T\d{6}$/);
    const tags = Object.fromEntries((image.Tags ?? []).map((t) => [t.Key, t.Value]));
    assert.equal(tags[TAG.bake], 'web-base');
    assert.equal(tags['box:version'], '1.2.0');
    assert.equal(tags.team, 'infra', 'the Boxfile\'s targets.aws.tags reach the AMI');
    assert.deepEqual(await leftovers(), {instances: 0, keyPairs: 0, groups: 0});

    const metadata = await readBoxMetadata(result.box.path);
    assert.equal(metadata.provider, 'aws');
    assert.deepEqual(metadata.amis, {'us-east-1': result.ami});

    // The box drives `up`: its region → AMI map picks the baked AMI.
    const machine = awsMachine('web', {ssh_cidr: '203.0.113.4/32'});
    machine.basebox = {raw: result.box.path, kind: 'file', name: result.box.path};
    const ctx = awsContext(work.dir, machine);
    await new AwsProvider().up(ctx);
    const s = (await readMachineState(work.dir, 'web'))!.provider as unknown as AwsMachineState;
    assert.equal(s.ami, result.ami);
    assert.match(s.amiSource, /^box /);
    // The AMI is referenced by a stored box now: sweep keeps it (and the running machine).
    assert.deepEqual((await sweep({dryRun: true, allHosts: false, ui: silentUi(), signal: new AbortController().signal})).resources, []);
    await new AwsProvider().destroy(ctx);
  });

  test('a failing provisioner stops the bake and removes the temporary instance, key pair and group', async () => {
    exitCode = 3;
    await assert.rejects(bake(), (e: BoxError) => e.code === 'ERR_PROVISION_FAILED' && /code 3/.test(e.message));
    assert.deepEqual(await leftovers(), {instances: 0, keyPairs: 0, groups: 0});
    assert.deepEqual(await selfImages(), []);
  });

  test('the template\'s provisioners run on the instance after post_install with the Boxfile\'s runners; a failing one fails the bake by its name and cleans up', async () => {
    const tpl = path.join(work.dir, 'tpl');
    await mkdir(path.join(tpl, 'conf'));
    await writeFile(path.join(tpl, 'conf', 'app.conf'), 'port=80\n');
    await writeFile(path.join(tpl, 'template.yaml'), [
      'name: web-base', 'version: 1.2.0', 'method: box', 'source: box base', 'ssh: {username: admin}',
      'post_install:', '  - inline: ["echo baked > /etc/baked"]',
      'provisioners:', '  - {type: file, source: conf/app.conf, destination: /tmp/app.conf}', '  - {type: shell, name: configure, inline: "echo configured"}',
    ].join('\n') + '\n');
    await bake();
    const steps = calls.slice(1).map((c) => c.split(' ').slice(0, 2).join(' '));
    assert.deepEqual(steps.slice(0, 2), ['exec sudo', 'upload app.conf'], calls.join('\n'));
    assert.match(calls[1], /echo baked/, 'post_install first');
    assert.equal(calls[2], 'upload app.conf /tmp/app.conf');
    assert.match(calls.at(-1)!, /^exec sudo /, 'then the shell provisioner, with sudo');

    // The shell provisioner's script is the 2nd exec: it fails with 5.
    const images = (await selfImages()).length;
    calls = [];
    onExec = () => { if (calls.filter((c) => c.startsWith('exec')).length === 2) exitCode = 5; };
    await assert.rejects(bake(), (e: BoxError) => e.code === 'ERR_PROVISION_FAILED' && /^Provisioner "configure" \(shell\) failed: exit code 5\./.test(e.message));
    assert.deepEqual(await leftovers(), {instances: 0, keyPairs: 0, groups: 0});
    assert.equal((await selfImages()).length, images, 'no AMI of the failed bake');
  });

  test('Ctrl-C during provisioning cleans up like a failure and reports an interruption', async () => {
    const controller = new AbortController();
    onExec = () => controller.abort();
    await assert.rejects(bake(controller.signal), (e: BoxError) => e.code === 'ERR_INTERRUPTED');
    assert.deepEqual(await leftovers(), {instances: 0, keyPairs: 0, groups: 0});
    assert.deepEqual(await selfImages(), []);
  });

  test('sweep leaves resources of other hosts alone unless --all-hosts', async () => {
    await ec2.send(new CreateKeyPairCommand({KeyName: 'box-other-host', TagSpecifications: [{ResourceType: 'key-pair', Tags: [{Key: TAG.host, Value: 'some-other-host'}, {Key: TAG.root, Value: '/nonexistent/project'}, {Key: TAG.project, Value: 'far'}]}]}));
    await ec2.send(new CreateKeyPairCommand({KeyName: 'not-from-box'}));
    const mine = await sweep({dryRun: true, allHosts: false, ui: silentUi(), signal: new AbortController().signal});
    assert.deepEqual(mine.resources, []);
    const all = await sweep({dryRun: true, allHosts: true, ui: silentUi(), signal: new AbortController().signal});
    assert.deepEqual(all.resources.map((r) => [r.type, r.id, r.project]), [['key-pair', 'box-other-host', 'far']]);
    assert.match(all.resources[0].reason, /\/nonexistent\/project has no box state/);
  });

  test('sweep keeps a finished AMI by default, removes it with --images, and removes the key pair of a crashed bake', async () => {
    const result = await bake();
    const [image] = await selfImages();
    assert.ok(image.Tags?.some((t) => t.Key === TAG.complete), 'a finished bake marks its AMI complete');
    // A crashed bake: its temporary key pair carries a token no live bake record has.
    await ec2.send(new CreateKeyPairCommand({KeyName: 'box-bake-crashed', TagSpecifications: [{ResourceType: 'key-pair', Tags: [{Key: TAG.bake, Value: 'web-base'}, {Key: TAG.token, Value: 'box-bake-dead'}, {Key: TAG.host, Value: os.hostname()}]}]}));
    const snapshotsBefore = ((await ec2.send(new DescribeSnapshotsCommand({OwnerIds: ['self']}))).Snapshots ?? []).filter((s) => s.Tags?.some((t) => t.Key === TAG.bake));
    const plain = await sweep({dryRun: true, allHosts: false, ui: silentUi(), signal: new AbortController().signal});
    assert.deepEqual(plain.resources.map((r) => `${r.type} ${r.id}`), ['key-pair box-bake-crashed'], 'the baked AMI in ./output is a product, not a leak');

    const dry = await sweep({dryRun: true, allHosts: false, images: true, ui: silentUi(), signal: new AbortController().signal});
    const listed = dry.resources.map((r) => `${r.type} ${r.id}`).sort();
    assert.ok(listed.includes(`image ${result.ami}`), listed.join(', '));
    for (const snap of snapshotsBefore) assert.ok(listed.includes(`snapshot ${snap.SnapshotId}`), listed.join(', '));
    const done = await sweep({dryRun: false, allHosts: false, images: true, ui: silentUi(), signal: new AbortController().signal});
    assert.ok(done.resources.every((r) => r.removed), JSON.stringify(done.resources));
    assert.deepEqual(await selfImages(), []);
    assert.equal((await leftovers()).keyPairs, 0);
  });

  test('sweep removes by default an AMI a dead bake left before it was complete', async () => {
    const result = await bake();
    await ec2.send(new DeleteTagsCommand({Resources: [result.ami], Tags: [{Key: TAG.complete}]}));
    const swept = await sweep({dryRun: false, allHosts: false, ui: silentUi(), signal: new AbortController().signal});
    const image = swept.resources.find((r) => r.type === 'image');
    assert.equal(image?.id, result.ami);
    assert.match(image!.reason, /half-made/);
    assert.deepEqual(await selfImages(), []);
  });
});
