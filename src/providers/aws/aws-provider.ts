import {randomUUID} from 'node:crypto';
import {mkdir} from 'node:fs/promises';
import path from 'node:path';
import {
  CancelSpotInstanceRequestsCommand, DescribeSubnetsCommand,
  StartInstancesCommand, StopInstancesCommand,
  TerminateInstancesCommand, paginateDescribeInstances, paginateDescribeSecurityGroups, waitUntilInstanceRunning, waitUntilInstanceStopped, waitUntilInstanceTerminated,
  type EC2Client, type Instance, type RunInstancesCommandInput,
} from '@aws-sdk/client-ec2';
import type {MachineConfig} from '../../boxfile/project.js';
import type {Communicator} from '../../communicators/communicator.js';
import {ensureMachineKey} from '../../communicators/keys.js';
import {BoxError, UsageError, errorMessage, throwIfAborted} from '../../core/errors.js';
import {machineFiles} from '../../core/paths.js';
import {indexMachine, readMachineState, unindexMachine, updateMachineState, writeMachineState} from '../../core/state.js';
import type {Step} from '../../core/steps.js';
import type {MachineContext, PackagedMachine, PackageMachineOptions, Provider, SshInfo, StatusReport, StoppedBy, SuspendOutcome} from '../provider.js';
import {resolveAmi} from './ami.js';
import {toEc2BlockDeviceMappings} from './block-devices.js';
import {makeCloneImage, prepareAwsClone, removeCloneImages} from './clone.js';
import {describeInstance} from './instance.js';
import {dropSourceKey} from '../shared/clone-guest.js';
import {checkAwsSettings} from './settings-checks.js';
import {metadataOptions} from './metadata-options.js';
import {clientRegion, ec2Client, type AwsConnection} from './client.js';
import {awsCommunicator} from './communicator-factory.js';
import {awsCall, awsErrorCode, mapAwsError} from './errors.js';
import {readAwsState, recordAws, type AwsMachineState} from './machine-state.js';
import {allPages} from './paginate.js';
import {releaseElasticIps} from './elastic-ips.js';
import {checkExplicitIp, ensureProjectGroup, releaseProjectGroup, sharedSubnet} from './private-network.js';
import {keyPairStep, runInstanceStep, securityGroupStep, type AwsPlace} from './resource-steps.js';
import {deleteKeyPair, deleteSecurityGroup} from './resources.js';
import {TAG, boxTags, tagSpec} from './tags.js';
import {awsSnapshots, deleteMachineSnapshots} from './snapshots.js';
import {waitFor, waiterConfig} from './waiters.js';
import {ec2SaysHibernated, hibernationConfigured, hibernationLaunch, hibernationOffError, holdsHibernation, notHibernatedError} from './hibernation.js';
import {removeMachineFiles, runCreateSteps} from '../shared/machine-files.js';
import {cloudInitUserData} from '../shared/cloud-init.js';

export const DEFAULT_INSTANCE_TYPE = 't3.micro';

export function connectionOf(machine: MachineConfig, recorded?: AwsMachineState): AwsConnection {
  // A machine is always talked to where it was created, even if the Boxfile changed since.
  return {region: recorded?.region ?? machine.aws.region, endpoint: recorded?.endpoint ?? machine.aws.endpoint, profile: machine.aws.profile ?? recorded?.profile};
}

export function pickAddress(instance: Instance | undefined, iface: 'public' | 'private'): string | undefined {
  return iface === 'public' ? instance?.PublicIpAddress : instance?.PrivateIpAddress;
}

export class AwsProvider implements Provider {
  readonly name = 'aws' as const;
  /** `up NEW --from MACHINE[@SNAPSHOT]`: a new instance from an image of the source's disks or snapshot (clone.ts). */
  readonly clones = true;
  /** `box snapshot`: tagged EBS snapshots of the instance's volumes (snapshots.ts). */
  readonly snapshots = awsSnapshots(this, (machine, s) => ec2Client(connectionOf(machine, s)));

  async package(ctx: MachineContext, options: PackageMachineOptions): Promise<PackagedMachine> {
    const {packageAwsMachine} = await import('./package.js');
    return packageAwsMachine(this, ctx, options, (recorded) => connectionOf(ctx.machine, recorded));
  }

  async verify(ctx: MachineContext): Promise<void> {
    await checkAwsSettings(ctx.project, ctx.machine);
  }

  async up(ctx: MachineContext): Promise<{created: boolean}> {
    const recorded = await readAwsState(ctx.project.root, ctx.machine.name);
    if (!recorded) {
      await this.create(ctx);
      return {created: true};
    }
    const client = ec2Client(connectionOf(ctx.machine, recorded));
    const instance = recorded.instanceId ? await describeInstance(client, recorded) : undefined;
    const state = instance?.State?.Name;
    if (ctx.machine.networks.length > 0 && recorded.phase === 'created' && !recorded.privateGroup) {
      // Its instance is in no project group: it could not reach the others (security groups of a running instance are not changed behind its back).
      throw new BoxError('ERR_PRIVATE_NETWORK', `Machine ${ctx.machine.name} was created before it had \`networks\`: its instance is not on the project's private network.`, {
        hint: `Run \`box destroy ${ctx.machine.name}\` and \`box up\` to recreate it on the private network.`,
      });
    }
    if (recorded.phase !== 'created' || !instance || state === 'terminated' || state === 'shutting-down') {
      throw new BoxError('ERR_AWS_BROKEN', `Machine ${ctx.machine.name} is half-created or its instance ${recorded.instanceId ?? '(none recorded)'} is ${state ?? 'gone'}.`, {
        hint: `Run \`box destroy ${ctx.machine.name}\` to remove what is left, then \`box up\` again.`,
      });
    }
    if (state === 'stopping') {
      await waitFor('InstanceStopped', recorded.instanceId!, recorded.region, () => waitUntilInstanceStopped(waiterConfig(client, 600, ctx.signal), {InstanceIds: [recorded.instanceId!]}));
    }
    // A hibernated instance: StartInstances restores its RAM from the root volume (no boot).
    const resumed = (state === 'stopped' || state === 'stopping') && holdsHibernation(instance, recorded);
    if (state === 'stopped' || state === 'stopping') {
      ctx.ui.stage(resumed ? 'resume-instance' : 'start-instance', recorded.instanceId);
      await awsCall({action: 'StartInstances', region: recorded.region}, () => client.send(new StartInstancesCommand({InstanceIds: [recorded.instanceId!]}), {abortSignal: ctx.signal}));
    } else {
      ctx.ui.info(`${ctx.machine.name} is already running (${recorded.instanceId}).`);
    }
    // Started (by box, or outside it): its hibernation image is used up.
    if (recorded.hibernated) await recordAws(ctx.project.root, ctx.machine.name, (s) => { s.hibernated = undefined; });
    await this.waitRunningAndSsh(ctx, client, recorded);
    return {created: false, ...(resumed ? {resumed} : {})};
  }

  /** Refuses (before any machine is touched) a machine whose instance was launched without hibernation. */
  async suspendRefusal(ctx: MachineContext): Promise<UsageError | undefined> {
    const s = await readAwsState(ctx.project.root, ctx.machine.name);
    if (!s?.instanceId || s.hibernated) return undefined;
    const instance = await describeInstance(ec2Client(connectionOf(ctx.machine, s)), s);
    if (!instance || hibernationConfigured(instance, s)) return undefined;
    return hibernationOffError(ctx.machine.name, s.instanceId);
  }

  /**
   * `box suspend`: StopInstances with Hibernate (EC2 writes the RAM to the encrypted root volume).
   * The suspension is recorded before the call, so a Ctrl-C after it leaves a machine `status`
   * calls suspended; while the instance still runs, the record is ignored (and `up` clears it).
   */
  async suspend(ctx: MachineContext): Promise<SuspendOutcome> {
    const s = await readAwsState(ctx.project.root, ctx.machine.name);
    if (!s?.instanceId) throw new BoxError('ERR_NOT_CREATED', `Machine ${ctx.machine.name} is not created.`, {hint: 'Run `box up` first.'});
    const client = ec2Client(connectionOf(ctx.machine, s));
    const instance = await describeInstance(client, s);
    if (!hibernationConfigured(instance, s)) throw hibernationOffError(ctx.machine.name, s.instanceId);
    const t0 = Date.now();
    await recordAws(ctx.project.root, ctx.machine.name, (r) => { r.hibernated = {at: new Date().toISOString()}; });
    try {
      await awsCall({action: 'StopInstances', region: s.region}, () => client.send(new StopInstancesCommand({InstanceIds: [s.instanceId!], Hibernate: true})));
    } catch (error) {
      // EC2 refused (e.g. the guest's hibernation agent is not ready yet): the instance runs on.
      await recordAws(ctx.project.root, ctx.machine.name, (r) => { r.hibernated = undefined; });
      throw error;
    }
    await waitFor('InstanceStopped', s.instanceId, s.region, () => waitUntilInstanceStopped(waiterConfig(client, 900, ctx.signal), {InstanceIds: [s.instanceId!]}));
    const stopped = await describeInstance(client, s);
    if (!ec2SaysHibernated(stopped)) {
      await recordAws(ctx.project.root, ctx.machine.name, (r) => { r.hibernated = undefined; });
      throw notHibernatedError(ctx.machine.name, s.instanceId, stopped?.StateReason?.Code ?? 'unknown');
    }
    return {method: 'hibernate', timings: {hibernate: Date.now() - t0}};
  }

  /** RunInstances with its key pair and security group, as steps whose cleanups undo a failed up. */
  private async create(ctx: MachineContext): Promise<void> {
    const {project, machine, dir, ui, signal} = ctx;
    await checkAwsSettings(project, machine);
    const aws = machine.aws;
    const from = ctx.cloneFrom;
    const fromName = from ? `${from.machine}${from.snapshot === undefined ? '' : `@${from.snapshot}`}` : '';
    if (from) ui.stage('clone-from', fromName);
    // A clone lives where its source does: its image can only be made there.
    const source = from ? await prepareAwsClone(project.root, from, (s) => ec2Client(connectionOf(machine, s))) : undefined;
    const conn = connectionOf(machine, source?.s);
    const client = ec2Client(conn);
    const region = await clientRegion(client).catch((error) => { throw mapAwsError(error, {action: 'configure region'}); });
    // A clone keeps its source's AMI and box as its lineage; it launches from the clone image (the 'clone-image' step).
    const resolved = source
      ? {ami: source.s.ami, source: `clone of ${fromName}`, box: source.box}
      : await resolveAmi(client, machine, region, {ui, signal});
    if (!source) ui.stage('ami', `${resolved.ami} (${resolved.source})`);
    const owner = {project: project.name, machine: machine.name, root: project.root};
    const baseName = `box-${project.name}-${machine.name}`;
    const suffix = randomUUID().slice(0, 8);
    const token = `box-${randomUUID()}`;
    const extraTags = aws.tags ?? {};
    // The private network: the subnet the project's machines share, and an explicit ip checked against it before anything is made.
    const shared = machine.networks.length > 0 ? await sharedSubnet(client, aws.subnet_id, region) : undefined;
    if (shared) await checkExplicitIp(project, machine, shared);
    const instanceType = aws.instance_type ?? DEFAULT_INSTANCE_TYPE;
    const blockDevices = toEc2BlockDeviceMappings(aws.block_device_mappings, project.boxfilePath);
    // Hibernation's prerequisites are checked before anything is made (hibernation.ts).
    const launchFrom = async (ami: string) => aws.hibernation
      ? hibernationLaunch(client, {ami, instanceType, region, mappings: blockDevices, boxfile: project.boxfilePath, signal})
      : {BlockDeviceMappings: blockDevices};
    // A clone's image does not exist yet: its launch settings are checked once it does.
    const launch = source ? undefined : await launchFrom(resolved.ami);
    let cloneImage: string | undefined;

    const initial: AwsMachineState = {
      // The endpoint actually used, also when it came from the environment: a later `box destroy`
      // run without AWS_ENDPOINT_URL_EC2 must still reach the cloud the instance lives in.
      phase: 'creating', region, endpoint: conn.endpoint ?? process.env.AWS_ENDPOINT_URL_EC2 ?? process.env.AWS_ENDPOINT_URL, profile: conn.profile, token, ami: resolved.ami, amiSource: resolved.source,
      instanceType, elasticIps: [], ...(shared ? {subnetId: shared.id} : {}), ...(aws.hibernation ? {hibernation: true} : {}),
      ...(source ? {cloneImage: {name: `box-clone-${project.name}-${machine.name}-${suffix}`.replace(/[^\w().\-/]/g, '-').slice(0, 128)}} : {}),
      sshUsername: aws.ssh_username ?? machine.ssh.username, sshInterface: aws.ssh_interface ?? 'public',
    };
    await mkdir(dir, {recursive: true});
    await writeMachineState(project.root, {
      machine: machine.name, target: 'aws', createdAt: new Date().toISOString(), box: resolved.box,
      ...(from ? {cloneOf: {machine: from.machine, ...(from.snapshot === undefined ? {} : {snapshot: from.snapshot})}} : {}),
      provisioned: false, provider: initial as unknown as Record<string, unknown>,
    });
    await indexMachine({project: project.name, projectRoot: project.root, machine: machine.name, target: 'aws', ...(resolved.box ? {box: {name: resolved.box.name, version: resolved.box.version, provider: resolved.box.provider}} : {})});
    const rec = (change: (s: AwsMachineState) => void) => recordAws(project.root, machine.name, change);
    const failed = (outcome: string) => outcome !== 'succeeded';

    const place: AwsPlace = {client, region, ui};
    // A clone's first step makes its image; removed again once the clone runs (its volumes do not
    // depend on it), or when the up fails: nothing is left to sweep. Other machines have no such step.
    const cloneSteps: Array<Step<AwsMachineState>> = !source ? [] : [
      {
        name: 'clone-image',
        run: async () => {
          cloneImage = await makeCloneImage(source, {
            projectRoot: project.root, project: project.name, clone: machine.name, token, record: initial.cloneImage!,
            tags: boxTags(owner, initial.cloneImage!.name, {...extraTags, [TAG.token]: token}), ui, signal,
          });
        },
        cleanup: async () => {
          if (!initial.cloneImage) return;
          ui.stage('remove-clone-image', cloneImage ?? initial.cloneImage.name);
          await removeCloneImages(client, region, token, initial.cloneImage);
          await rec((s) => { s.cloneImage = undefined; });
        },
      },
    ];
    const steps: Array<Step<AwsMachineState>> = [
      ...cloneSteps,
      keyPairStep<AwsMachineState>({
        name: 'key-pair',
        place: () => place,
        plan: async () => {
          if (aws.key_name) {
            await rec((s) => { s.keyPair = {name: aws.key_name!, managed: false, privateKeyPath: path.resolve(project.root, (aws.private_key_path ?? machine.ssh.privateKeyPath)!)}; });
            return undefined;
          }
          const key = await ensureMachineKey(dir, `${baseName}`);
          const name = `${baseName}-${suffix}`;
          await rec((s) => { s.keyPair = {name, managed: true, privateKeyPath: key.privateKeyPath}; });
          return {name, publicKey: key.publicKey, tags: boxTags(owner, name, extraTags)};
        },
        created: (_s, id) => rec((s) => { s.keyPair!.id = id; }),
        toRemove: async (_s, outcome) => {
          if (!failed(outcome)) return undefined;
          const s = await readAwsState(project.root, machine.name);
          return s?.keyPair?.managed ? s.keyPair.name : undefined;
        },
      }),
      securityGroupStep<AwsMachineState>({
        name: 'security-group',
        place: () => place,
        plan: async () => {
          const vpcId = shared?.vpcId ?? (aws.subnet_id ? await subnetVpc(client, aws.subnet_id, region) : undefined);
          if (aws.security_groups?.length) {
            await rec((s) => { s.securityGroup = undefined; });
            return undefined;
          }
          const name = `${baseName}-${suffix}`;
          await rec((s) => { s.securityGroup = {name, managed: true, vpcId}; });
          return {name, description: `box ${project.name}/${machine.name}: SSH from ${aws.ssh_cidr}`, vpcId, tags: boxTags(owner, name, extraTags), sshPort: machine.ssh.port, sshCidr: aws.ssh_cidr!};
        },
        created: (_s, groupId) => rec((s) => { s.securityGroup!.id = groupId; }),
        toRemove: async (_s, outcome) => {
          if (!failed(outcome)) return undefined;
          const s = await readAwsState(project.root, machine.name);
          return s?.securityGroup?.managed ? s.securityGroup : undefined;
        },
      }),
      {
        name: 'private-network',
        run: async () => {
          if (!shared) return;
          const group = await ensureProjectGroup(client, {project, vpcId: shared.vpcId, region, endpoint: initial.endpoint, extraTags});
          ui.stage('private-network', `${group.name} (${group.id}) in ${shared.id}`);
          await rec((s) => { s.privateGroup = group; });
        },
        cleanup: async (_s, outcome) => {
          if (!failed(outcome)) return;
          const s = await readAwsState(project.root, machine.name);
          if (s?.privateGroup) await releaseProjectGroup(client, s.privateGroup, region, ui);
        },
      },
      runInstanceStep<AwsMachineState>({
        name: 'run-instance',
        place: () => place,
        input: async () => {
          const s = (await readAwsState(project.root, machine.name))!;
          const sshGroups = s.securityGroup?.id ? [s.securityGroup.id] : await securityGroupIds(client, aws.security_groups ?? [], s.securityGroup?.vpcId ?? (aws.subnet_id ? await subnetVpc(client, aws.subnet_id, region) : undefined), region);
          const groupIds = s.privateGroup ? [...sshGroups, s.privateGroup.id] : sshGroups;
          const tags = boxTags(owner, `${baseName}`, {...extraTags, [TAG.token]: token});
          const ami = cloneImage ?? resolved.ami;
          return {
            ImageId: ami, InstanceType: s.instanceType as RunInstancesCommandInput['InstanceType'], MinCount: 1, MaxCount: 1,
            ClientToken: token, KeyName: s.keyPair?.name, SecurityGroupIds: groupIds, SubnetId: s.subnetId ?? aws.subnet_id,
            PrivateIpAddress: s.subnetId ? machine.networks[0]?.ip : undefined,
            ...(launch ?? await launchFrom(ami)),
            MetadataOptions: metadataOptions(aws),
            ...userDataAndProfile(await instanceUserData(machine), aws.iam_instance_profile),
            InstanceMarketOptions: aws.spot ? {MarketType: 'spot', SpotOptions: {
              MaxPrice: typeof aws.spot === 'object' ? aws.spot.max_price : undefined,
              // persistent + stop: a spot machine can be halted and started like any other
              // (EC2 requires `hibernate` here for an instance configured for hibernation).
              SpotInstanceType: 'persistent', InstanceInterruptionBehavior: aws.hibernation ? 'hibernate' : 'stop',
            }} : undefined,
            // The spot request too: `box sweep` must find (and cancel) a persistent one.
            TagSpecifications: tagSpec(aws.spot ? ['instance', 'volume', 'network-interface', 'spot-instances-request'] : ['instance', 'volume', 'network-interface'], tags),
          };
        },
        announce: (_s, input) => ui.stage('run-instance', `${input.InstanceType} from ${input.ImageId} in ${region}`),
        callContext: () => ({endpoint: conn.endpoint}),
        launched: (_s, instance) => rec((st) => { st.instanceId = instance?.InstanceId; st.spotRequestId = instance?.SpotInstanceRequestId; }),
        terminate: async (_s, outcome) => {
          if (!failed(outcome)) return;
          const s = await readAwsState(project.root, machine.name);
          if (s) await terminateInstances(client, s, ui);
        },
      }),
      {
        name: 'boot',
        run: async () => {
          const s = (await readAwsState(project.root, machine.name))!;
          await this.waitRunningAndSsh(ctx, client, s);
          if (source) await this.takeCloneIdentity(ctx, client, s, source.sourcePublicKey);
        },
      },
    ];
    // A failed first up leaves nothing behind (the step cleanups remove the cloud side), unless
    // a cleanup failed or --no-destroy-on-error keeps it: then the record stays for `box destroy`.
    await runCreateSteps(ctx, steps, initial, 'the cloud resources it created');
    await rec((s) => { s.phase = 'created'; });
  }

  private async waitRunningAndSsh(ctx: MachineContext, client: EC2Client, s: AwsMachineState): Promise<void> {
    const id = s.instanceId!;
    ctx.ui.stage('wait-for-running', id);
    await waitFor('InstanceRunning', id, s.region, () => waitUntilInstanceRunning(waiterConfig(client, 900, ctx.signal), {InstanceIds: [id]}));
    throwIfAborted(ctx.signal);
    if (s.privateGroup) await this.recordPrivateAddress(ctx, client, s);
    const info = await this.sshInfoFrom(ctx, client, s);
    ctx.ui.stage('wait-for-ssh', `${info.username}@${info.host}:${info.port}`);
    const comm = await awsCommunicator(info, ctx.dir);
    try {
      await comm.waitForReady(ctx.machine.ssh.timeoutSeconds * 1000, ctx.signal);
    } finally {
      await comm.close();
    }
  }

  /** A clone's first login, with its own key: its source's key out of authorized_keys, its own machine-id and host keys (clone.ts says why). */
  private async takeCloneIdentity(ctx: MachineContext, client: EC2Client, s: AwsMachineState, sourcePublicKey: string | undefined): Promise<void> {
    const info = await this.sshInfoFrom(ctx, client, s);
    ctx.ui.stage('clone-identity', 'the source\'s key out, its own machine-id and SSH host keys');
    const comm = await awsCommunicator(info, ctx.dir);
    try {
      await comm.waitForReady(ctx.machine.ssh.timeoutSeconds * 1000, ctx.signal);
      await dropSourceKey(comm, {sourcePublicKey, ownPrivateKeyPath: info.privateKeyPath}, ctx.machine.name, ctx.signal);
    } finally {
      await comm.close();
    }
  }

  /** The instance's private IP as the machine's private network address (refreshPrivateNames writes it into the hosts files). */
  private async recordPrivateAddress(ctx: MachineContext, client: EC2Client, s: AwsMachineState): Promise<void> {
    const ip = (await describeInstance(client, s))?.PrivateIpAddress;
    if (!ip) throw new BoxError('ERR_AWS_NO_ADDRESS', `Instance ${s.instanceId} has no private IP address.`);
    await updateMachineState(ctx.project.root, ctx.machine.name, (state) => { state.privateNetwork = {ip}; });
  }

  async halt(ctx: MachineContext, options: {force: boolean; timeoutSeconds: number}): Promise<StoppedBy | void> {
    const s = await readAwsState(ctx.project.root, ctx.machine.name);
    if (!s?.instanceId) return;
    const client = ec2Client(connectionOf(ctx.machine, s));
    let instance = await describeInstance(client, s);
    if (s.hibernated && options.force && instance?.State?.Name === 'stopping') {
      await waitFor('InstanceStopped', s.instanceId, s.region, () => waitUntilInstanceStopped(waiterConfig(client, 900, ctx.signal), {InstanceIds: [s.instanceId!]}));
      instance = await describeInstance(client, s);
    }
    if (s.hibernated && (['running', 'pending'].includes(instance?.State?.Name ?? '') || !holdsHibernation(instance, s))) {
      // Started outside box since it hibernated (this stop is a plain one), or EC2 stopped it plainly: no image to keep.
      await recordAws(ctx.project.root, ctx.machine.name, (r) => { r.hibernated = undefined; });
    } else if (s.hibernated && options.force && instance?.State?.Name === 'stopped') {
      // EC2 has no call that drops a hibernation image: the instance resumes, then is
      // force-stopped (a power cut, as qemu's discarded state), and is plainly stopped after.
      ctx.ui.stage('discard-hibernation', s.instanceId);
      await awsCall({action: 'StartInstances', region: s.region}, () => client.send(new StartInstancesCommand({InstanceIds: [s.instanceId!]})));
      await recordAws(ctx.project.root, ctx.machine.name, (r) => { r.hibernated = undefined; });
      await waitFor('InstanceRunning', s.instanceId, s.region, () => waitUntilInstanceRunning(waiterConfig(client, 900, ctx.signal), {InstanceIds: [s.instanceId!]}));
      instance = await describeInstance(client, s);
    }
    if (!instance || ['stopped', 'terminated'].includes(instance.State?.Name ?? '')) return;
    const stop = (force: boolean) => awsCall({action: 'StopInstances', region: s.region}, () => client.send(new StopInstancesCommand({InstanceIds: [s.instanceId!], Force: force})));
    await stop(options.force);
    try {
      await waitUntilInstanceStopped(waiterConfig(client, Math.max(options.timeoutSeconds, 10), ctx.signal), {InstanceIds: [s.instanceId]});
      return options.force ? 'force-stop-instances' : 'stop-instances';
    } catch (error) {
      if (options.force || ctx.signal.aborted) throw mapAwsError(error, {action: 'InstanceStopped', region: s.region});
      ctx.ui.warn(`${s.instanceId} did not stop within ${options.timeoutSeconds} s: forcing it.`);
      await stop(true);
      await waitFor('InstanceStopped', s.instanceId, s.region, () => waitUntilInstanceStopped(waiterConfig(client, 600, ctx.signal), {InstanceIds: [s.instanceId!]}));
      return 'force-stop-instances';
    }
  }

  async destroy(ctx: MachineContext): Promise<void> {
    const {project, machine, dir, ui} = ctx;
    const s = await readAwsState(project.root, machine.name);
    if (s) {
      const client = ec2Client(connectionOf(machine, s));
      await releaseElasticIps(client, s, {root: project.root, machine: machine.name}, ui);
      await terminateInstances(client, s, ui);
      await deleteMachineSnapshots(client, s, ui);
      // A clone whose up was kept for debugging (--no-destroy-on-error) or killed: its image too.
      if (s.cloneImage) await removeCloneImages(client, s.region, s.token, s.cloneImage);
      if (s.securityGroup?.managed) await deleteSecurityGroup(client, s.securityGroup, s.region, ui, signalFree());
      if (s.privateGroup && await releaseProjectGroup(client, s.privateGroup, s.region, ui) === 'kept') ui.info(`${s.privateGroup.name} stays: other machines of the project are in it.`);
      if (s.keyPair?.managed) await deleteKeyPair(client, s.keyPair.name, s.region);
    }
    await removeMachineFiles(dir);
    await unindexMachine(project.root, machine.name);
  }

  async status(ctx: MachineContext): Promise<StatusReport> {
    const state = await readMachineState(ctx.project.root, ctx.machine.name);
    if (!state) return {status: 'not-created'};
    const s = state.provider as unknown as AwsMachineState;
    const repair = `box destroy ${ctx.machine.name}`;
    if (!s.instanceId) return {status: 'broken', reason: 'an earlier `box up` stopped before its instance was recorded', repair, details: {region: s.region}};
    const client = ec2Client(connectionOf(ctx.machine, s));
    const instance = await describeInstance(client, s);
    const ec2State = instance?.State?.Name ?? 'not-found';
    const details = {instanceId: s.instanceId, ec2State, region: s.region, instanceType: instance?.InstanceType ?? s.instanceType, ami: s.ami, publicIp: instance?.PublicIpAddress, privateIp: instance?.PrivateIpAddress};
    if (ec2State === 'running' || ec2State === 'pending') return {status: s.phase === 'created' ? 'running' : 'broken', ...(s.phase === 'created' ? {} : {reason: 'the instance runs but `box up` did not finish', repair}), details};
    if ((ec2State === 'stopped' || ec2State === 'stopping') && holdsHibernation(instance, s)) {
      return {status: 'suspended', details: {...details, suspendedAt: s.hibernated.at, ...(instance?.StateReason?.Code ? {stateReason: instance.StateReason.Code} : {})}};
    }
    // A recorded suspension that EC2 carried out as a plain stop: the next up boots.
    if (ec2State === 'stopped' || ec2State === 'stopping') return {status: 'stopped', details: {...details, ...(s.hibernated ? {notHibernated: instance?.StateReason?.Code} : {})}};
    return {status: 'broken', reason: `instance ${s.instanceId} is ${ec2State} (changed outside box)`, repair, details};
  }

  async sshInfo(ctx: MachineContext): Promise<SshInfo> {
    const s = await readAwsState(ctx.project.root, ctx.machine.name);
    if (!s?.instanceId) throw new BoxError('ERR_NOT_CREATED', `Machine ${ctx.machine.name} is not created.`, {hint: 'Run `box up` first.'});
    return this.sshInfoFrom(ctx, ec2Client(connectionOf(ctx.machine, s)), s);
  }

  private async sshInfoFrom(ctx: MachineContext, client: EC2Client, s: AwsMachineState): Promise<SshInfo> {
    const instance = await describeInstance(client, s);
    const host = pickAddress(instance, s.sshInterface);
    if (!host) {
      throw new BoxError('ERR_AWS_NO_ADDRESS', `Instance ${s.instanceId} has no ${s.sshInterface} IP address (state ${instance?.State?.Name ?? 'unknown'}).`, {
        hint: s.sshInterface === 'public' ? 'Use a subnet that maps public IPs, `box ip allocate --associate`, or `ssh_interface: private` from inside the VPC.' : 'Is the instance running? See `box status`.',
      });
    }
    return {host, port: ctx.machine.ssh.port, username: s.sshUsername, privateKeyPath: s.keyPair?.privateKeyPath ?? path.join(ctx.dir, machineFiles.privateKey)};
  }

  async communicator(ctx: MachineContext, info: SshInfo): Promise<Communicator> {
    return awsCommunicator(info, ctx.dir);
  }
}

/** Cleanups must still run after Ctrl-C aborted the command's signal. */
function signalFree(): AbortSignal {
  return new AbortController().signal;
}

/** EC2 takes at most 16 KiB of user data (before base64). */
const EC2_USER_DATA_MAX = 16 * 1024;

/**
 * The machine's cloud-init user-data (`user_data` or `cloud_init.user_data`: the same bytes a
 * qemu machine gets on its seed CD), refused before anything is made when EC2 would refuse it.
 */
export async function ec2UserData(machine: MachineConfig): Promise<Buffer | undefined> {
  const bytes = await cloudInitUserData(machine);
  if (bytes && bytes.length > EC2_USER_DATA_MAX) {
    throw new UsageError('ERR_CONFIG', `user_data of ${machine.name} is ${bytes.length} bytes; EC2 takes at most ${EC2_USER_DATA_MAX}.`, {hint: 'Gzip it (cloud-init reads gzipped user-data) or fetch the rest with #include.'});
  }
  return bytes;
}

/**
 * What an instance of the machine boots with: `targets.aws.user_data` (EC2's own, as written)
 * when set, else the machine's cloud-init user-data. `box up` and the AMI bake both ask here.
 */
export async function instanceUserData(machine: MachineConfig): Promise<string | Buffer | undefined> {
  return machine.aws.user_data ?? await ec2UserData(machine);
}

/** `user_data` (base64, as RunInstances takes it) and `iam_instance_profile` (an ARN or a name). */
export function userDataAndProfile(userData?: string | Buffer, profile?: string): Pick<RunInstancesCommandInput, 'UserData' | 'IamInstanceProfile'> {
  return {
    UserData: userData === undefined ? undefined : (typeof userData === 'string' ? Buffer.from(userData) : userData).toString('base64'),
    IamInstanceProfile: profile === undefined ? undefined : profile.startsWith('arn:') ? {Arn: profile} : {Name: profile},
  };
}

export async function subnetVpc(client: EC2Client, subnetId: string, region: string): Promise<string | undefined> {
  const out = await awsCall({action: 'DescribeSubnets', region}, () => client.send(new DescribeSubnetsCommand({SubnetIds: [subnetId]})));
  return out.Subnets?.[0]?.VpcId;
}

/** `security_groups` may hold ids (sg-...) or names; RunInstances with a subnet needs ids. */
export async function securityGroupIds(client: EC2Client, groups: string[], vpcId: string | undefined, region: string): Promise<string[]> {
  const names = groups.filter((g) => !g.startsWith('sg-'));
  if (names.length === 0) return groups;
  const found = await awsCall({action: 'DescribeSecurityGroups', region}, () => allPages(paginateDescribeSecurityGroups({client}, {
    Filters: [{Name: 'group-name', Values: names}, ...(vpcId ? [{Name: 'vpc-id', Values: [vpcId]}] : [])],
  }), (p) => p.SecurityGroups));
  return groups.map((g) => {
    if (g.startsWith('sg-')) return g;
    const match = found.find((sg) => sg.GroupName === g);
    if (!match?.GroupId) throw new UsageError('ERR_AWS_SECURITY_GROUP', `Security group "${g}" (targets.aws.security_groups) does not exist in ${region}${vpcId ? ` / ${vpcId}` : ''}.`, {hint: 'Use a group id (sg-...) or the name of a group in the VPC of subnet_id.'});
    return match.GroupId;
  });
}

/** Terminates the recorded instance and any instance tagged with the machine's token, and waits. */
export async function terminateInstances(client: EC2Client, s: AwsMachineState, ui: MachineContext['ui']): Promise<void> {
  const ids = new Set<string>(s.instanceId ? [s.instanceId] : []);
  const spotRequests = new Set<string>(s.spotRequestId ? [s.spotRequestId] : []);
  // The instance of a crash between RunInstances and recording its id carries our token.
  for (const i of await instancesTagged(client, s.token, s.region)) {
    if (i.InstanceId) ids.add(i.InstanceId);
    if (i.SpotInstanceRequestId) spotRequests.add(i.SpotInstanceRequestId);
  }
  if (spotRequests.size > 0) {
    // A persistent spot request would otherwise launch a replacement.
    await awsCall({action: 'CancelSpotInstanceRequests', region: s.region}, () => client.send(new CancelSpotInstanceRequestsCommand({SpotInstanceRequestIds: [...spotRequests]}))).catch((error) => ui.warn(errorMessage(error)));
  }
  const live: string[] = [];
  for (const id of ids) {
    try {
      await client.send(new TerminateInstancesCommand({InstanceIds: [id]}));
      live.push(id);
    } catch (error) {
      if (awsErrorCode(error) !== 'InvalidInstanceID.NotFound') throw mapAwsError(error, {action: 'TerminateInstances', region: s.region});
    }
  }
  if (live.length === 0) return;
  ui.stage('terminate', live.join(' '));
  await waitFor('InstanceTerminated', live.join(','), s.region, () => waitUntilInstanceTerminated(waiterConfig(client, 900), {InstanceIds: live}));
}

/** Instances not yet terminated that carry a box token (found even when their id was never recorded). */
export async function instancesTagged(client: EC2Client, token: string, region: string): Promise<Instance[]> {
  return awsCall({action: 'DescribeInstances', region}, () => allPages(paginateDescribeInstances({client}, {
    Filters: [{Name: `tag:${TAG.token}`, Values: [token]}, {Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped', 'shutting-down']}],
  }), (p) => p.Reservations?.flatMap((r) => r.Instances ?? [])));
}

export function createAwsProvider(): AwsProvider {
  return new AwsProvider();
}
