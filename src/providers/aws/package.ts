import {randomBytes} from 'node:crypto';
import os from 'node:os';
import {DescribeImagesCommand, waitUntilImageAvailable} from '@aws-sdk/client-ec2';
import {bakeDescription, createBakeImage, imagesOfBake, type BakeImageIntent} from '../../builder/methods/aws/create-image.js';
import {packageBox} from '../../boxes/package.js';
import {BoxError} from '../../core/errors.js';
import {runSteps, type Step} from '../../core/steps.js';
import type {MachineContext, PackagedMachine, PackageMachineOptions, Provider} from '../provider.js';
import {ec2Client, type AwsConnection} from './client.js';
import {awsCall} from './errors.js';
import {removeImage, snapshotsOf} from './images.js';
import {readAwsState} from './machine-state.js';
import {TAG, boxTags, tagResources} from './tags.js';
import {waitFor, waiterConfig} from './waiters.js';

interface AwsPackageState {
  intent: BakeImageIntent;
  ami?: string;
  packaged?: PackagedMachine;
}

/**
 * `box package` on the aws target: an AMI of the machine's instance and an aws box naming it
 * ({"provider": "aws", "amis": {region: ami}}), as `box build --target aws` makes one (the same
 * CreateImage: tagged on creation with the machine's tags and a token, adopted on a retried call,
 * tagged box:complete once available, so `box sweep` tells a finished AMI from a half-made one).
 * EC2 reboots a running instance for the image (its default, for a consistent file system); a
 * stopped one is imaged as it is. The instance keeps running afterwards. A failure or Ctrl-C
 * removes the half-made image and its snapshots.
 */
export async function packageAwsMachine(provider: Provider, ctx: MachineContext, options: PackageMachineOptions, connectionOf: (recorded: NonNullable<Awaited<ReturnType<typeof readAwsState>>>) => AwsConnection): Promise<PackagedMachine> {
  const {project, machine, ui, signal} = ctx;
  const recorded = await readAwsState(project.root, machine.name);
  if (!recorded?.instanceId) throw new BoxError('ERR_NOT_CREATED', `Machine ${machine.name} is not created.`, {hint: `Run \`box up ${machine.name}\` first.`});
  const status = await provider.status(ctx);
  if (status.status !== 'running' && status.status !== 'stopped') {
    throw new BoxError('ERR_MACHINE_BROKEN', `Machine ${machine.name} is ${status.status}${status.reason ? `: ${status.reason}` : ''}; nothing was packaged.`, {hint: status.repair ? `Run \`${status.repair}\`.` : undefined});
  }
  const client = ec2Client(connectionOf(recorded));
  const region = recorded.region;
  const token = randomBytes(8).toString('hex');
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
  const amiName = `box-package-${project.name}-${machine.name}-${stamp}`.replace(/[^\w().\-/]/g, '-').slice(0, 128);
  const s: AwsPackageState = {intent: {client, region, token, amiName, instanceId: recorded.instanceId}};
  const owner = {project: project.name, machine: machine.name, root: project.root};
  const tags = boxTags(owner, amiName, {...machine.aws.tags, [TAG.token]: token, 'box:package': machine.name});
  const steps: Array<Step<AwsPackageState>> = [
    {
      name: 'create-image',
      detail: () => `${recorded.instanceId} → ${amiName}${status.status === 'running' ? ' (EC2 reboots the instance for a consistent image)' : ''}`,
      run: async (st) => {
        const created = await createBakeImage({...st.intent, description: bakeDescription(`package ${machine.name}`, project.name, token), tags});
        st.ami = created.imageId;
        ui.info(`creating ${st.ami} (${amiName})`);
        await waitFor('ImageAvailable', st.ami, region, () => waitUntilImageAvailable(waiterConfig(client, 3600, signal), {ImageIds: [st.ami!]}));
        const image = (await awsCall({action: 'DescribeImages', region}, () => client.send(new DescribeImagesCommand({ImageIds: [st.ami!]})))).Images?.[0];
        const snapshots = snapshotsOf(image);
        if (!created.snapshotsTagged && snapshots.length > 0) await tagResources(client, snapshots, tags, region);
        await tagResources(client, [st.ami, ...snapshots], [{Key: TAG.complete, Value: new Date().toISOString()}], region);
      },
      cleanup: async (st, outcome) => {
        if (outcome === 'succeeded') return;
        for (const image of await imagesOfBake(st.intent)) await removeImage(client, image, region);
      },
    },
    {
      name: 'package',
      detail: () => options.outputPath,
      run: async (st) => {
        const metadata = {amis: {[region]: st.ami!}, box_package: {project: project.name, machine: machine.name, instance: recorded.instanceId, source_ami: recorded.ami, ami_name: amiName, host: os.hostname(), packaged_at: new Date().toISOString()}};
        const box = await packageBox({provider: 'aws', metadata, files: [], outputPath: options.outputPath, signal});
        st.packaged = {provider: 'aws', ...box, metadata: {provider: 'aws', ...metadata}, halted: false};
      },
    },
  ];
  await runSteps(steps, s, {ui, signal});
  return s.packaged!;
}
