import assert from 'node:assert/strict';
import {existsSync} from 'node:fs';
import path from 'node:path';
import {describe, test} from 'node:test';
import {DescribeImagesCommand} from '@aws-sdk/client-ec2';
import {execa} from 'execa';
import {AwsProvider} from '../../../src/providers/aws/aws-provider.js';
import {TAG} from '../../../src/providers/aws/tags.js';
import {readMachineState} from '../../../src/core/state.js';
import type {AwsMachineState} from '../../../src/providers/aws/machine-state.js';
import {awsContext, awsMachine} from './machine.js';
import {motoSuite} from './moto-suite.js';

const UBUNTU_AMI = 'ami-1e749f67';

describe('box package on the aws target (moto)', () => {
  const suite = motoSuite({prefix: 'box-aws-package', inProcess: true});
  const machine = () => awsMachine('web', {ami: UBUNTU_AMI, ssh_cidr: '203.0.113.4/32', tags: {team: 'infra'}});

  test('an AMI of the machine\'s instance, tagged as box tags things and marked complete, and a box whose metadata names it', async () => {
    const ctx = awsContext(suite.work, machine());
    const provider = new AwsProvider();
    await provider.up(ctx);
    const instanceId = ((await readMachineState(suite.work, 'web'))!.provider as unknown as AwsMachineState).instanceId;
    const output = path.join(suite.work, 'web.box');
    const packaged = await provider.package(ctx, {outputPath: output});

    assert.equal(packaged.provider, 'aws');
    const amis = packaged.metadata.amis as Record<string, string>;
    assert.deepEqual(Object.keys(amis), ['us-east-1']);
    const ami = amis['us-east-1']!;
    const image = (await suite.ec2.send(new DescribeImagesCommand({ImageIds: [ami]}))).Images![0]!;
    assert.equal(image.State, 'available');
    assert.equal(image.SourceInstanceId ?? instanceId, instanceId);
    const tags = Object.fromEntries((image.Tags ?? []).map((t) => [t.Key, t.Value]));
    assert.equal(tags[TAG.project], 'proj');
    assert.equal(tags[TAG.machine], 'web');
    assert.equal(tags.team, 'infra');
    assert.equal(tags['box:package'], 'web');
    assert.ok(tags[TAG.complete], 'tagged complete once available (sweep keeps it)');
    assert.match(image.Name!, /^box-package-proj-web-/);
    // The box: metadata.json naming the AMI, nothing else.
    const listed = String((await execa('tar', ['-tf', output])).stdout).split('\n');
    assert.deepEqual(listed, ['metadata.json']);
    const meta = JSON.parse(String((await execa('tar', ['-xOf', output, 'metadata.json'])).stdout));
    assert.equal(meta.provider, 'aws');
    assert.deepEqual(meta.amis, {'us-east-1': ami});
    assert.equal(meta.box_package.instance, instanceId);
    await provider.destroy(ctx);
  });

  test('Ctrl-C while the AMI is being made removes the image and leaves no box', async () => {
    const controller = new AbortController();
    const ctx = {...awsContext(suite.work, machine()), signal: controller.signal};
    const provider = new AwsProvider();
    await provider.up({...ctx, signal: new AbortController().signal});
    const output = path.join(suite.work, 'web.box');
    // Stopped the moment the stage starts: CreateImage was sent (never abandoned), then the wait is cut.
    ctx.ui.stage = (name: string) => { if (name === 'create-image') setImmediate(() => controller.abort()); };
    await assert.rejects(provider.package(ctx, {outputPath: output}), (error: Error & {code?: string}) => error.code === 'ERR_INTERRUPTED');
    const images = (await suite.ec2.send(new DescribeImagesCommand({Owners: ['self']}))).Images ?? [];
    assert.deepEqual(images.filter((i) => i.State !== 'deregistered').map((i) => i.ImageId), []);
    assert.equal(existsSync(output), false);
    await provider.destroy({...ctx, signal: new AbortController().signal});
  });

  test('a machine that is not created is refused, and nothing is written', async () => {
    const ctx = awsContext(suite.work, machine());
    const output = path.join(suite.work, 'web.box');
    await assert.rejects(new AwsProvider().package(ctx, {outputPath: output}), /not created/);
    assert.equal(existsSync(output), false);
  });
});
