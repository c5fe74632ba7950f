import {randomUUID} from 'node:crypto';
import {rm, writeFile} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  DescribeImagesCommand, DescribeInstancesCommand, StopInstancesCommand, TerminateInstancesCommand,
  waitUntilImageAvailable, waitUntilInstanceRunning, waitUntilInstanceStopped, waitUntilInstanceTerminated, type EC2Client, type InstanceMetadataOptionsRequest, type Tag,
} from '@aws-sdk/client-ec2';
import {generateKeyPair} from '../../../communicators/keys.js';
import {runGuestScript} from '../../../communicators/run-script.js';
import type {Communicator} from '../../../communicators/communicator.js';
import {BoxError} from '../../../core/errors.js';
import type {Step, StepOutcome} from '../../../core/steps.js';
import type {Ui} from '../../../core/ui.js';
import {instancesTagged, subnetVpc, userDataAndProfile} from '../../../providers/aws/aws-provider.js';
import {waitFor, waiterConfig} from '../../../providers/aws/waiters.js';
import {awsCommunicator} from '../../../providers/aws/communicator-factory.js';
import {awsCall} from '../../../providers/aws/errors.js';
import {keyPairStep, runInstanceStep, securityGroupStep} from '../../../providers/aws/resource-steps.js';
import {bakeDescription, createBakeImage, imagesOfBake} from './create-image.js';
import {removeImage, snapshotsOf} from '../../../providers/aws/images.js';
import {TAG, tagResources} from '../../../providers/aws/tags.js';
import {removeBakeRecord, writeBakeRecord, type BakeRecord} from '../../../providers/aws/bake-records.js';
import {createWorkDir} from '../../../providers/aws/work-dirs.js';
import type {OnErrorHolder} from '../../on-error.js';
import {runTemplateProvisioners} from '../../build-provisioners.js';
import type {LoadedTemplate} from '../../template.js';

/** One provisioning action of a bake: a script file uploaded and run, or inline commands. */
export interface BakeProvisioner {
  script?: string;
  inline?: string[];
  env: Record<string, string>;
  privileged: boolean;
}

/**
 * State of one AMI bake (Packer amazon-ebs). Every temporary resource is remembered here as soon
 * as its name is chosen, so each step's cleanup can remove it whether creation finished or not.
 */
export interface BakeState extends OnErrorHolder {
  client: EC2Client;
  region: string;
  template: string;
  version: string;
  sourceAmi: string;
  instanceType: string;
  sshUsername: string;
  sshPort: number;
  sshCidr: string;
  sshTimeoutMs: number;
  subnetId?: string;
  /** From targets.aws: the user's tags (on the AMI and every temporary resource), the address SSH uses, and what the source instance is launched with. */
  tags: Record<string, string>;
  sshInterface: 'public' | 'private';
  iamInstanceProfile?: string;
  userData?: string | Buffer;
  /** targets.aws.metadata_options as RunInstances takes them (IMDSv2 required by default). */
  metadataOptions: InstanceMetadataOptionsRequest;
  amiName: string;
  provisioners: BakeProvisioner[];
  /** The template whose `provisioners:` run after the post_install scripts (the Boxfile's runners). */
  provisionerTemplate?: LoadedTemplate;
  /** Folder for the temporary private key (recorded, then created by the key step). */
  workDir: string;
  startedAt: string;
  ui: Ui;
  token: string;
  keyName?: string;
  privateKeyPath?: string;
  groupName?: string;
  groupId?: string;
  instanceId?: string;
  host?: string;
  ami?: string;
  snapshots?: string[];
}

const place = (s: BakeState) => ({client: s.client, region: s.region, ui: s.ui});

/** What `$BOX_HOME/bakes/aws/<token>.json` holds for this bake. */
export function bakeRecord(s: BakeState): BakeRecord {
  return {token: s.token, pid: process.pid, template: s.template, region: s.region, amiName: s.amiName, workDir: s.workDir, startedAt: s.startedAt};
}

function imageIntent(s: BakeState) {
  return {client: s.client, region: s.region, token: s.token, amiName: s.amiName, instanceId: s.instanceId};
}

function bakeTags(s: BakeState, name: string, extra: Record<string, string> = {}): Tag[] {
  return Object.entries({...s.tags, Name: name, [TAG.bake]: s.template, [TAG.token]: s.token, [TAG.host]: os.hostname(), ...extra}).map(([Key, Value]) => ({Key, Value}));
}

export function newBakeToken(): string {
  return `box-bake-${randomUUID()}`;
}

export const bakeSteps: Array<Step<BakeState>> = [
  {
    // Lets `box sweep` tell this live bake's resources from a crashed bake's.
    name: 'bake-record',
    // The AMI name goes in before CreateImage: sweep finds the image of a bake killed during the call by it.
    // So is the work folder: a bake killed with -9 leaves its private key there.
    run: async (s) => writeBakeRecord(bakeRecord(s)),
    // The folder (the private key) goes before the record that leads to it.
    cleanup: async (s) => {
      await rm(s.workDir, {recursive: true, force: true});
      await removeBakeRecord(s.token);
    },
  },
  keyPairStep<BakeState>({
    name: 'temporary-key-pair',
    place,
    plan: async (s) => {
      const pair = generateKeyPair(`box-bake-${s.template}`);
      await createWorkDir(s.workDir);
      s.privateKeyPath = path.join(s.workDir, 'bake_ed25519');
      await writeFile(s.privateKeyPath, pair.privateKey, {mode: 0o600});
      s.keyName = `box-bake-${s.template}-${s.token.slice(-8)}`;
      return {name: s.keyName, publicKey: pair.publicKey, tags: bakeTags(s, s.keyName)};
    },
    // Temporary: removed whatever the outcome.
    toRemove: async (s) => s.keyName,
  }),
  securityGroupStep<BakeState>({
    name: 'temporary-security-group',
    place,
    plan: async (s) => {
      s.groupName = `box-bake-${s.template}-${s.token.slice(-8)}`;
      // In the subnet's VPC: a group of another VPC (or EC2-Classic's default) cannot be attached.
      const vpcId = s.subnetId ? await subnetVpc(s.client, s.subnetId, s.region) : undefined;
      return {name: s.groupName, description: `box build ${s.template}: temporary SSH from ${s.sshCidr}`, vpcId, tags: bakeTags(s, s.groupName), sshPort: s.sshPort, sshCidr: s.sshCidr};
    },
    created: async (s, groupId) => { s.groupId = groupId; },
    toRemove: async (s) => (s.groupName ? {name: s.groupName, id: s.groupId} : undefined),
  }),
  runInstanceStep<BakeState>({
    name: 'launch-source',
    place,
    input: async (s) => ({
      ImageId: s.sourceAmi, InstanceType: s.instanceType as never, MinCount: 1, MaxCount: 1, ClientToken: s.token, KeyName: s.keyName,
      SecurityGroupIds: [s.groupId!], SubnetId: s.subnetId, MetadataOptions: s.metadataOptions,
      ...userDataAndProfile(s.userData, s.iamInstanceProfile),
      TagSpecifications: [{ResourceType: 'instance', Tags: bakeTags(s, `box-bake-${s.template}`)}, {ResourceType: 'volume', Tags: bakeTags(s, `box-bake-${s.template}`)}],
    }),
    announce: (s) => s.ui.info(`launching ${s.instanceType} from ${s.sourceAmi} in ${s.region}`),
    launched: async (s, instance) => { s.instanceId = instance?.InstanceId; },
    terminate: async (s) => {
      // Also an instance whose id never came back (crash or Ctrl-C during RunInstances).
      const found = await instancesTagged(s.client, s.token, s.region);
      const ids = new Set([s.instanceId, ...found.map((i) => i.InstanceId)].filter((x): x is string => Boolean(x)));
      if (ids.size === 0) return;
      await awsCall({action: 'TerminateInstances', region: s.region}, () => s.client.send(new TerminateInstancesCommand({InstanceIds: [...ids]})));
      s.ui.info(`terminating temporary instance ${[...ids].join(' ')}`);
      await waitFor('InstanceTerminated', [...ids].join(' '), s.region, () => waitUntilInstanceTerminated(waiterConfig(s.client, 900), {InstanceIds: [...ids]}));
    },
  }),
  {
    name: 'wait-for-ssh',
    run: async (s, signal) => {
      await waitFor('InstanceRunning', s.instanceId!, s.region, () => waitUntilInstanceRunning(waiterConfig(s.client, 900, signal), {InstanceIds: [s.instanceId!]}));
      const out = await awsCall({action: 'DescribeInstances', region: s.region}, () => s.client.send(new DescribeInstancesCommand({InstanceIds: [s.instanceId!]})));
      const instance = out.Reservations?.[0]?.Instances?.[0];
      s.host = s.sshInterface === 'private' ? instance?.PrivateIpAddress : instance?.PublicIpAddress;
      if (!s.host) {
        throw new BoxError('ERR_AWS_NO_ADDRESS', `Temporary instance ${s.instanceId} has no ${s.sshInterface} IP address.`, {
          hint: s.sshInterface === 'public' ? 'Give a subnet_id whose subnet maps public IPs, or set ssh_interface: private when baking from inside the VPC.' : 'Is the instance in a subnet of this VPC?',
        });
      }
      const comm = await awsCommunicator({host: s.host, port: s.sshPort, username: s.sshUsername, privateKeyPath: s.privateKeyPath!}, s.workDir);
      try {
        await comm.waitForReady(s.sshTimeoutMs, signal);
      } finally {
        await comm.close();
      }
    },
  },
  {
    name: 'provision',
    run: async (s, signal) => {
      const comm = await awsCommunicator({host: s.host!, port: s.sshPort, username: s.sshUsername, privateKeyPath: s.privateKeyPath!}, s.workDir);
      try {
        for (const [i, p] of s.provisioners.entries()) await runBakeProvisioner(comm, p, i, s.ui, signal);
        if (s.provisionerTemplate) {
          const ssh = {host: s.host!, port: s.sshPort, username: s.sshUsername, privateKeyPath: s.privateKeyPath!};
          await runTemplateProvisioners(s.provisionerTemplate, {comm, ssh, ui: s.ui, signal});
        }
      } finally {
        await comm.close();
      }
    },
  },
  {
    name: 'stop-source',
    run: async (s, signal) => {
      await awsCall({action: 'StopInstances', region: s.region}, () => s.client.send(new StopInstancesCommand({InstanceIds: [s.instanceId!]}), {abortSignal: signal}));
      await waitFor('InstanceStopped', s.instanceId!, s.region, () => waitUntilInstanceStopped(waiterConfig(s.client, 900, signal), {InstanceIds: [s.instanceId!]}));
    },
  },
  {
    name: 'create-image',
    run: async (s, signal) => {
      const tags = bakeTags(s, s.amiName, {'box:version': s.version});
      const created = await createBakeImage({...imageIntent(s), description: bakeDescription(s.template, s.version, s.token), tags});
      s.ami = created.imageId;
      s.ui.info(`creating ${s.ami} (${s.amiName})`);
      await waitFor('ImageAvailable', s.ami, s.region, () => waitUntilImageAvailable(waiterConfig(s.client, 3600, signal), {ImageIds: [s.ami!]}));
      const image = (await awsCall({action: 'DescribeImages', region: s.region}, () => s.client.send(new DescribeImagesCommand({ImageIds: [s.ami!]})))).Images?.[0];
      s.snapshots = snapshotsOf(image);
      // An API that took no snapshot tags at CreateImage: tag them now that the image lists them.
      if (!created.snapshotsTagged && s.snapshots.length > 0) await tagResources(s.client, s.snapshots, tags, s.region);
      // Only now is the AMI a product rather than the leftover of a bake that died half-way.
      await tagResources(s.client, [s.ami!, ...(s.snapshots ?? [])], [{Key: TAG.complete, Value: new Date().toISOString()}], s.region);
    },
    cleanup: async (s, outcome: StepOutcome) => {
      // A half-made image of a failed or interrupted bake is worth nothing: remove it, also one
      // whose id never came back (the bake's token and recorded AMI name find it).
      if (outcome === 'succeeded') return;
      for (const image of await imagesOfBake(imageIntent(s))) await removeImage(s.client, image, s.region);
    },
  },
];

async function runBakeProvisioner(comm: Communicator, p: BakeProvisioner, index: number, ui: Ui, signal: AbortSignal): Promise<void> {
  ui.info(`provision [${index + 1}] ${p.script ? path.basename(p.script) : 'inline'}`);
  // The shell provisioner's runner: Ctrl-C stops the script's whole process group on the instance.
  const code = await runGuestScript(comm, p.script ? {file: p.script} : {inline: (p.inline ?? []).join('\n')}, {
    privileged: p.privileged, env: p.env, signal, prefix: `box-bake-${index}`,
    onOutput: (_stream, data) => ui.output('   ', data),
  });
  if (code !== 0) throw new BoxError('ERR_PROVISION_FAILED', `Bake provisioner ${index + 1} (${p.script ?? 'inline'}) exited with code ${code}.`, {hint: 'Fix the script; the temporary instance, key and group were removed.'});
}

