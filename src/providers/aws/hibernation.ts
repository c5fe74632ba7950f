import {
  DescribeImagesCommand, DescribeInstanceTypesCommand,
  type BlockDeviceMapping as Ec2Mapping, type EC2Client, type Instance, type RunInstancesCommandInput,
} from '@aws-sdk/client-ec2';
import {BoxError, UsageError} from '../../core/errors.js';
import {awsCall} from './errors.js';
import type {AwsMachineState} from './machine-state.js';

// `targets.aws.hibernation`: EC2 hibernation is `box suspend` on aws. EC2 writes the RAM to the
// encrypted root volume and stops the instance; a start restores it. It can only be enabled at
// launch, and only when the prerequisites hold (AWS EC2 User Guide, "Hibernation
// prerequisites"); those box can check before anything is made are checked here.

/** EC2 does not hibernate instances with more than 150 GiB of RAM. */
export const MAX_HIBERNATION_RAM_MIB = 150 * 1024;

/**
 * What RunInstances takes for an instance enabled for hibernation: `HibernationOptions` and the
 * block device mappings with the AMI's root device EBS, encrypted, and at least the AMI's root
 * size plus the instance's RAM (EC2 writes the RAM there). Refuses (exit 2, before launch) an
 * instance type EC2 says cannot hibernate, more than 150 GiB of RAM, an instance-store AMI, and
 * a root mapping that is unencrypted or too small.
 */
export async function hibernationLaunch(client: EC2Client, input: {ami: string; instanceType: string; region: string; mappings: Ec2Mapping[] | undefined; boxfile: string; signal?: AbortSignal}): Promise<Pick<RunInstancesCommandInput, 'HibernationOptions' | 'BlockDeviceMappings'>> {
  const {ami, instanceType, region, boxfile} = input;
  const where = `${boxfile}: targets.aws.hibernation`;
  const types = await awsCall({action: 'DescribeInstanceTypes', region}, () => client.send(new DescribeInstanceTypesCommand({InstanceTypes: [instanceType as never]}), {abortSignal: input.signal}));
  const type = types.InstanceTypes?.find((t) => t.InstanceType === instanceType);
  const ramMiB = type?.MemoryInfo?.SizeInMiB;
  if (!type || type.HibernationSupported !== true) {
    throw new UsageError('ERR_AWS_HIBERNATION', `${where} is set, but instance type ${instanceType} cannot hibernate in ${region}${type ? ' (EC2 reports HibernationSupported: false)' : ' (EC2 does not know it)'}; nothing was created.`, {
      hint: 'Pick an instance type that supports hibernation (`aws ec2 describe-instance-types --filters Name=hibernation-supported,Values=true`), or drop targets.aws.hibernation.',
    });
  }
  if (ramMiB === undefined || ramMiB > MAX_HIBERNATION_RAM_MIB) {
    throw new UsageError('ERR_AWS_HIBERNATION', `${where} is set, but instance type ${instanceType} has ${ramMiB === undefined ? 'an unknown amount of' : `${Math.round(ramMiB / 1024)} GiB`} RAM; EC2 hibernates at most 150 GiB; nothing was created.`, {
      hint: 'Pick a smaller instance type, or drop targets.aws.hibernation.',
    });
  }
  const images = await awsCall({action: 'DescribeImages', region, ami}, () => client.send(new DescribeImagesCommand({ImageIds: [ami]}), {abortSignal: input.signal}));
  const image = images.Images?.find((i) => i.ImageId === ami);
  const rootName = image?.RootDeviceName;
  if (!image || image.RootDeviceType !== 'ebs' || !rootName) {
    throw new UsageError('ERR_AWS_HIBERNATION', `${where} is set, but AMI ${ami} ${image ? `has a ${image.RootDeviceType ?? 'unknown'} root device` : 'is not found'}; hibernation needs an EBS root volume; nothing was created.`, {
      hint: 'Use an EBS-backed AMI, or drop targets.aws.hibernation.',
    });
  }
  const amiRootGiB = image.BlockDeviceMappings?.find((m) => m.DeviceName === rootName)?.Ebs?.VolumeSize ?? 0;
  const neededGiB = amiRootGiB + Math.ceil(ramMiB / 1024);
  const mappings = input.mappings ?? [];
  const own = mappings.find((m) => m.DeviceName === rootName);
  const rootField = `${boxfile}: targets.aws.block_device_mappings (${rootName}, the root device)`;
  if (own && !own.Ebs) {
    throw new UsageError('ERR_AWS_HIBERNATION', `${rootField} is an instance-store volume; hibernation needs an EBS root volume; nothing was created.`, {hint: `Drop the mapping of ${rootName}, or drop targets.aws.hibernation.`});
  }
  if (own?.Ebs?.Encrypted === false) {
    throw new UsageError('ERR_AWS_HIBERNATION', `${rootField} sets encrypted: false; hibernation needs an encrypted root volume (the RAM is written there); nothing was created.`, {hint: 'Drop `encrypted: false` (box encrypts it), or drop targets.aws.hibernation.'});
  }
  if (own?.Ebs?.VolumeSize !== undefined && own.Ebs.VolumeSize < neededGiB) {
    throw new UsageError('ERR_AWS_HIBERNATION', `${rootField} is ${own.Ebs.VolumeSize} GiB; hibernation needs room for the AMI's ${amiRootGiB} GiB and the ${Math.ceil(ramMiB / 1024)} GiB of RAM of ${instanceType}: at least ${neededGiB} GiB; nothing was created.`, {
      hint: `Set volume_size: ${neededGiB} (or more) for ${rootName}, or leave the root device out and box sizes it.`,
    });
  }
  const root: Ec2Mapping = {DeviceName: rootName, Ebs: {DeleteOnTermination: true, ...own?.Ebs, Encrypted: true, VolumeSize: own?.Ebs?.VolumeSize ?? neededGiB}};
  return {HibernationOptions: {Configured: true}, BlockDeviceMappings: [root, ...mappings.filter((m) => m !== own)]};
}

/**
 * Can this machine's instance hibernate? EC2 says in DescribeInstances' HibernationOptions; an
 * endpoint that leaves it out (moto 5.2.1's server) is answered by what box recorded at launch.
 */
export function hibernationConfigured(instance: Instance | undefined, s: AwsMachineState): boolean {
  return instance?.HibernationOptions?.Configured ?? s.hibernation === true;
}

/** EC2's StateReason code for an instance it hibernated (a plain stop says Client.UserInitiatedShutdown). */
export const HIBERNATE_REASON = 'Client.UserInitiatedHibernate';

/**
 * Does EC2 say it hibernated this stopped (or stopping) instance? When the guest cannot
 * hibernate, EC2 falls back to a plain stop, and its StateReason then names another reason. An
 * endpoint that gives no reason, or an empty one (an EC2-compatible cloud), is believed on box's word.
 */
export function ec2SaysHibernated(instance: Instance | undefined): boolean {
  const code = instance?.StateReason?.Code;
  return !code || code === HIBERNATE_REASON;
}

/** Is the instance holding a hibernation image: box recorded a suspension, and EC2 did not stop it plainly instead? */
export function holdsHibernation(instance: Instance | undefined, s: AwsMachineState): s is AwsMachineState & {hibernated: {at: string}} {
  return s.hibernated !== undefined && ec2SaysHibernated(instance);
}

/**
 * `box suspend` asked EC2 to hibernate, and EC2 stopped the instance plainly instead: the guest
 * shut down, its RAM is gone and the next `up` boots. An error (exit 1), so a script that relies
 * on processes surviving the suspension stops here; `details.status` says the machine went down.
 */
export function notHibernatedError(machine: string, instanceId: string, reason: string): BoxError {
  return new BoxError('ERR_AWS_NOT_HIBERNATED', `EC2 did not hibernate machine ${machine} (${instanceId}): it stopped it plainly (state reason ${reason}), so its RAM was not saved. The machine is stopped; the next \`box up\` boots it.`, {
    hint: 'EC2 falls back to a plain stop when the guest cannot hibernate: the AMI lacks the hibernation agent (ec2-hibinit-agent), the agent has not finished setting up swap shortly after launch, or the root volume has no room for the RAM. The instance\'s console output (`aws ec2 get-console-output`) tells which.',
    details: {status: 'stopped', stateReason: reason},
  });
}

/** The refusal of `box suspend` for an instance launched without hibernation (exit 2, nothing changed). */
export function hibernationOffError(machine: string, instanceId: string): UsageError {
  return new UsageError('ERR_AWS_HIBERNATION_OFF', `Machine ${machine} (${instanceId}) was launched without hibernation, so EC2 cannot suspend it; nothing was changed.`, {
    hint: `Set targets.aws.hibernation: true in the Boxfile. EC2 enables it at launch only: \`box destroy ${machine}\` then \`box up ${machine}\` makes an instance that can hibernate. \`box halt ${machine}\` stops this one instead.`,
  });
}
