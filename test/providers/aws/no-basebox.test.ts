import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {writeFile} from 'node:fs/promises';
import path from 'node:path';
import {DescribeImagesCommand, DescribeInstancesCommand} from '@aws-sdk/client-ec2';
import {machineDir} from '../../../src/core/paths.js';
import {readMachineState} from '../../../src/core/state.js';
import {silentUi} from '../../../src/core/ui.js';
import {AwsProvider} from '../../../src/providers/aws/aws-provider.js';
import type {MachineContext} from '../../../src/providers/provider.js';
import {loadProject} from '../../../src/boxfile/load.js';
import {motoSuite} from './moto-suite.js';
// Loading a Boxfile needs the registered targets (the CLI registers them the same way).
import '../../../src/providers/registry.js';

// An aws machine whose targets.aws.ami (or ami_filter) names its image needs no basebox
// (vagrant-aws made users add a "dummy box" for this): loaded from a Boxfile without one, it
// goes up against the moto EC2 emulator and no box is looked for.
describe('an aws machine without a basebox against moto', () => {
  // A fresh, empty BOX_HOME per test: no box could be found even if looked for.
  const suite = motoSuite({prefix: 'box-aws-nobox', inProcess: true});

  async function upFromBoxfile(boxfile: string): Promise<{provider: AwsProvider; ctx: MachineContext}> {
    await writeFile(path.join(suite.work, 'Boxfile'), boxfile);
    const project = await loadProject({cwd: suite.work});
    const machine = project.machines[0];
    assert.equal(machine.basebox, undefined);
    const ctx: MachineContext = {project, machine, dir: machineDir(suite.work, machine.name), ui: silentUi(), signal: new AbortController().signal};
    const provider = new AwsProvider();
    assert.deepEqual(await provider.up(ctx), {created: true});
    return {provider, ctx};
  }

  const liveInstances = async () => (await suite.ec2.send(new DescribeInstancesCommand({Filters: [{Name: 'instance-state-name', Values: ['pending', 'running']}]}))).Reservations?.flatMap((r) => r.Instances ?? []) ?? [];

  test('targets.aws.ami: up, status and destroy work, and no box is recorded', async () => {
    const {provider, ctx} = await upFromBoxfile('target: aws\ntargets:\n  aws: {region: us-east-1, ami: ami-1e749f67, ssh_cidr: 203.0.113.4/32}\n');
    const [instance] = await liveInstances();
    assert.equal(instance.ImageId, 'ami-1e749f67');
    const state = await readMachineState(suite.work, 'default');
    assert.equal(state?.box, undefined);
    assert.equal((await provider.status(ctx)).status, 'running');
    await provider.destroy(ctx);
    assert.equal((await liveInstances()).length, 0);
  });

  test('targets.aws.ami_filter: the newest matching image boots without a basebox', async () => {
    const images = (await suite.ec2.send(new DescribeImagesCommand({Owners: ['amazon']}))).Images ?? [];
    const some = images.find((i) => i.Name && i.ImageId);
    assert.ok(some, 'moto lists amazon images');
    const {provider, ctx} = await upFromBoxfile(`target: aws\ntargets:\n  aws: {region: us-east-1, ami_filter: {owner: amazon, name: "${some.Name}"}, ssh_cidr: 203.0.113.4/32}\n`);
    const [instance] = await liveInstances();
    assert.equal(instance.ImageId, some.ImageId);
    await provider.destroy(ctx);
  });
});
