import {
  AuthorizeSecurityGroupIngressCommand, DescribeSubnetsCommand, paginateDescribeInstances, paginateDescribeSecurityGroups,
  type EC2Client, type Subnet,
} from '@aws-sdk/client-ec2';
import type {MachineConfig, Project} from '../../boxfile/project.js';
import {throwIfIssues} from '../../boxfile/issues.js';
import {machineSettingIssue} from '../../boxfile/setting-origin.js';
import {BoxError, UsageError} from '../../core/errors.js';
import type {Ui} from '../../core/ui.js';
import {awsCall, awsErrorCode, mapAwsError} from './errors.js';
import {allPages} from './paginate.js';
import {createSecurityGroup, deleteSecurityGroup} from './resources.js';
import {TAG, boxTags} from './tags.js';

// The aws private network: the project's machines with `networks` share one subnet (so one
// VPC) and one project security group whose only ingress rule lets its members reach each
// other on every protocol and port. Their private IPs (recorded as state.privateNetwork) go
// into the hosts files like qemu's (services/lifecycle/private-names.ts).

/** The project group as recorded in each member's aws state. */
export interface ProjectGroup {
  id: string;
  name: string;
  vpcId: string;
}

/** The subnet the project's networked machines share, and its VPC and CIDR. */
export interface SharedSubnet {
  id: string;
  vpcId: string;
  cidr: string;
}

export function projectGroupName(project: Pick<Project, 'name'>): string {
  return `box-${project.name}-private`;
}

/**
 * `subnet_id` when the Boxfile gives one, else the default subnet of the default VPC in the
 * first availability zone by name: every machine of the project picks the same one, so they
 * share it without a record (a default VPC's subnets do not move).
 */
export async function sharedSubnet(client: EC2Client, subnetId: string | undefined, region: string): Promise<SharedSubnet> {
  const subnets = await awsCall({action: 'DescribeSubnets', region}, () => client.send(new DescribeSubnetsCommand(subnetId
    ? {SubnetIds: [subnetId]}
    : {Filters: [{Name: 'default-for-az', Values: ['true']}]})));
  const chosen = [...(subnets.Subnets ?? [])].sort((a, b) => (a.AvailabilityZone ?? '').localeCompare(b.AvailabilityZone ?? ''))[0];
  if (!chosen?.SubnetId || !chosen.VpcId || !chosen.CidrBlock) {
    throw new BoxError('ERR_AWS_NO_SUBNET', `No ${subnetId ? `subnet ${subnetId}` : 'default subnet'} found in ${region} for the private network.`, {
      hint: 'Set targets.aws.subnet_id to the subnet the project\'s machines should share.',
    });
  }
  return {id: chosen.SubnetId, vpcId: chosen.VpcId, cidr: (chosen as Subnet).CidrBlock!};
}

function ipNumber(ip: string): number {
  return ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

/** Why `ip` cannot be an instance's address in `cidr` (outside it, or one of the five addresses AWS reserves), or undefined. */
export function subnetAddressProblem(ip: string, cidr: string): string | undefined {
  const [base, bits] = cidr.split('/') as [string, string];
  const size = 2 ** (32 - Number(bits));
  const offset = ipNumber(ip) - ipNumber(base);
  if (offset < 0 || offset >= size) return `is outside the subnet ${cidr} the project's machines share on aws`;
  if (offset < 4 || offset === size - 1) return `is one of the addresses AWS reserves in the subnet ${cidr} (its first four and its last)`;
  return undefined;
}

/** Refuses an explicit `ip` the subnet cannot give, at its Boxfile line and column. */
export async function checkExplicitIp(project: Project, machine: MachineConfig, subnet: SharedSubnet): Promise<void> {
  const ip = machine.networks[0]?.ip;
  const problem = ip ? subnetAddressProblem(ip, subnet.cidr) : undefined;
  if (!ip || !problem) return;
  const message = `${ip} ${problem} (${subnet.id})`;
  const hint = `Choose an address inside ${subnet.cidr}, or leave ip out and let AWS assign one.`;
  const issue = await machineSettingIssue(project, machine.name, ['networks', 0, 'ip'], message);
  if (issue) throwIfIssues([issue], hint);
  throw new UsageError('ERR_BOXFILE_INVALID', `${project.boxfilePath}: machine ${machine.name}: networks[0].ip: ${message}`, {hint});
}

/** Groups being found or created by this process, per place and name: machines going up at once share one call. */
const pending = new Map<string, Promise<ProjectGroup>>();

/**
 * The project group in the subnet's VPC: found by name and box's project tags, else created
 * with a self-referencing rule. Idempotent; concurrent callers in one process share one
 * lookup, so machines going up in parallel never make two.
 */
export function ensureProjectGroup(client: EC2Client, p: {project: Project; vpcId: string; region: string; endpoint?: string; extraTags?: Record<string, string>}): Promise<ProjectGroup> {
  const name = projectGroupName(p.project);
  const key = [p.endpoint ?? '', p.region, p.vpcId, p.project.root, name].join('\0');
  let found = pending.get(key);
  if (!found) {
    found = findOrCreate(client, name, p).finally(() => pending.delete(key));
    pending.set(key, found);
  }
  return found;
}

async function findOrCreate(client: EC2Client, name: string, p: {project: Project; vpcId: string; region: string; extraTags?: Record<string, string>}): Promise<ProjectGroup> {
  const tags = boxTags({project: p.project.name, machine: '*', root: p.project.root}, name, p.extraTags);
  const existing = await awsCall({action: 'DescribeSecurityGroups', region: p.region}, () => allPages(paginateDescribeSecurityGroups({client}, {
    Filters: [{Name: 'group-name', Values: [name]}, {Name: 'vpc-id', Values: [p.vpcId]}, {Name: `tag:${TAG.root}`, Values: [p.project.root]}],
  }), (page) => page.SecurityGroups));
  // createSecurityGroup adopts a same-named group only when it carries all of box's tags.
  const id = existing[0]?.GroupId ?? await createSecurityGroup(client, {
    name, description: `box ${p.project.name}: all traffic among the project's machines`, vpcId: p.vpcId, tags, region: p.region,
  });
  try {
    await client.send(new AuthorizeSecurityGroupIngressCommand({
      GroupId: id, IpPermissions: [{IpProtocol: '-1', UserIdGroupPairs: [{GroupId: id, Description: 'private network (box)'}]}],
    }));
  } catch (error) {
    if (awsErrorCode(error) !== 'InvalidPermission.Duplicate') throw mapAwsError(error, {action: 'AuthorizeSecurityGroupIngress', region: p.region});
  }
  return {id, name, vpcId: p.vpcId};
}

/**
 * Deletes the project group once no live instance is in it. Each destroy calls it after its
 * own instance terminated, so of machines destroyed at once the last to finish sees the others terminated and removes the group.
 */
export async function releaseProjectGroup(client: EC2Client, group: ProjectGroup, region: string, ui: Ui): Promise<'kept' | 'deleted'> {
  // The VPC's live instances, matched here on their groups (not every EC2 API filters on instance.group-id).
  const live = await awsCall({action: 'DescribeInstances', region}, () => allPages(paginateDescribeInstances({client}, {
    Filters: [{Name: 'vpc-id', Values: [group.vpcId]}, {Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped', 'shutting-down']}],
  }), (page) => page.Reservations?.flatMap((r) => r.Instances ?? [])));
  if (live.some((i) => i.SecurityGroups?.some((g) => g.GroupId === group.id))) return 'kept';
  // Another process may have launched into it since: DependencyViolation is retried a while, then reported.
  await deleteSecurityGroup(client, group, region, ui, new AbortController().signal);
  return 'deleted';
}
