import {
  AuthorizeSecurityGroupIngressCommand, CreateSecurityGroupCommand, DeleteKeyPairCommand, DeleteSecurityGroupCommand, DescribeKeyPairsCommand, ImportKeyPairCommand, paginateDescribeSecurityGroups,
  type EC2Client, type Tag,
} from '@aws-sdk/client-ec2';
import {BoxError} from '../../core/errors.js';
import type {Ui} from '../../core/ui.js';
import {awsCall, awsErrorCode, mapAwsError} from './errors.js';
import {allPages} from './paginate.js';
import {retryOnCodes} from './retry.js';

// Creating calls whose answer can be lost after EC2 acted (a reset connection, a timeout): the
// SDK sends them again, and EC2 answers the second one "Duplicate". The resource is then box's
// own from the first attempt: these functions check that it is (same public key, same tags)
// and carry on with it, instead of failing and leaving it behind.
//
// Nor are they abandoned on Ctrl-C: the call is sent without the abort signal, so its answer
// (the id to record and clean up) arrives; abandoned, EC2 could finish it after the cleanup
// looked, and leave a resource nobody recorded. The caller checks the signal afterwards.

/** The key type and base64 blob of an OpenSSH public key line (the comment is not compared). */
function keyBlob(line: string | undefined): string {
  return (line ?? '').trim().split(/\s+/).slice(0, 2).join(' ');
}

/** ImportKeyPair; on Duplicate adopts the key pair when it holds this public key. Returns its id. */
export async function importKeyPair(client: EC2Client, p: {name: string; publicKey: string; tags: Tag[]; region: string}): Promise<string | undefined> {
  try {
    const out = await client.send(new ImportKeyPairCommand({
      KeyName: p.name, PublicKeyMaterial: Buffer.from(p.publicKey), TagSpecifications: [{ResourceType: 'key-pair', Tags: p.tags}],
    }));
    return out.KeyPairId;
  } catch (error) {
    if (awsErrorCode(error) !== 'InvalidKeyPair.Duplicate') throw mapAwsError(error, {action: 'ImportKeyPair', region: p.region});
    const existing = (await awsCall({action: 'DescribeKeyPairs', region: p.region}, () => client.send(new DescribeKeyPairsCommand({KeyNames: [p.name], IncludePublicKey: true})))).KeyPairs?.[0];
    if (existing && keyBlob(existing.PublicKey) === keyBlob(p.publicKey)) return existing.KeyPairId;
    throw new BoxError('ERR_AWS_KEY_PAIR_EXISTS', `A key pair named "${p.name}" already exists in ${p.region} with another public key.`, {
      hint: 'Something else created a key pair of that name; delete it if it is a leftover, or run again (box picks a new name each time).',
    });
  }
}

/** CreateSecurityGroup; on Duplicate adopts the group of that name when it carries all of `tags`. Returns its id. */
export async function createSecurityGroup(client: EC2Client, p: {name: string; description: string; vpcId?: string; tags: Tag[]; region: string}): Promise<string> {
  try {
    const out = await client.send(new CreateSecurityGroupCommand({
      GroupName: p.name, Description: p.description, VpcId: p.vpcId, TagSpecifications: [{ResourceType: 'security-group', Tags: p.tags}],
    }));
    return out.GroupId!;
  } catch (error) {
    if (awsErrorCode(error) !== 'InvalidGroup.Duplicate') throw mapAwsError(error, {action: 'CreateSecurityGroup', region: p.region});
    const named = await awsCall({action: 'DescribeSecurityGroups', region: p.region}, () => allPages(paginateDescribeSecurityGroups({client}, {
      Filters: [{Name: 'group-name', Values: [p.name]}, ...(p.vpcId ? [{Name: 'vpc-id', Values: [p.vpcId]}] : [])],
    }), (page) => page.SecurityGroups));
    const ours = named.find((g) => g.GroupName === p.name && p.tags.every((t) => g.Tags?.some((x) => x.Key === t.Key && x.Value === t.Value)));
    if (ours?.GroupId) return ours.GroupId;
    throw new BoxError('ERR_AWS_GROUP_EXISTS', `A security group named "${p.name}" already exists in ${p.region}${p.vpcId ? ` / ${p.vpcId}` : ''} and was not made by this box run.`, {
      hint: 'Delete it if it is a leftover (`box sweep` finds box\'s own), or run again (box picks a new name each time).',
    });
  }
}

/** Opens tcp/port to cidr; a rule that already exists (the first attempt's answer was lost) is fine. */
export async function allowSsh(client: EC2Client, p: {groupId: string; port: number; cidr: string; region: string; signal?: AbortSignal}): Promise<void> {
  try {
    await client.send(new AuthorizeSecurityGroupIngressCommand({
      GroupId: p.groupId, IpPermissions: [{IpProtocol: 'tcp', FromPort: p.port, ToPort: p.port, IpRanges: [{CidrIp: p.cidr, Description: 'SSH (box)'}]}],
    }), {abortSignal: p.signal});
  } catch (error) {
    if (awsErrorCode(error) !== 'InvalidPermission.Duplicate') throw mapAwsError(error, {action: 'AuthorizeSecurityGroupIngress', region: p.region});
  }
}

/** Deletes a security group, waiting out DependencyViolation while its instance terminates. */
export async function deleteSecurityGroup(client: EC2Client, sg: {name: string; id?: string; vpcId?: string}, region: string, ui: Ui, signal: AbortSignal): Promise<void> {
  let id = sg.id;
  if (!id) {
    // Recorded by name before CreateSecurityGroup returned: find it (or learn it was never made).
    const named = await awsCall({action: 'DescribeSecurityGroups', region}, () => allPages(paginateDescribeSecurityGroups({client}, {Filters: [{Name: 'group-name', Values: [sg.name]}]}), (p) => p.SecurityGroups));
    id = named.find((g) => g.GroupName === sg.name)?.GroupId;
    if (!id) return;
  }
  try {
    await retryOnCodes(() => client.send(new DeleteSecurityGroupCommand({GroupId: id})), {
      codes: ['DependencyViolation', 'InvalidGroup.InUse'], signal,
      onRetry: (code, attempt, delay) => ui.info(`security group ${id} still in use (${code}); retrying in ${Math.round(delay / 1000)} s (attempt ${attempt})`),
    });
  } catch (error) {
    if (awsErrorCode(error) === 'InvalidGroup.NotFound') return;
    throw mapAwsError(error, {action: 'DeleteSecurityGroup', region});
  }
}

export async function deleteKeyPair(client: EC2Client, name: string, region: string): Promise<void> {
  try {
    await client.send(new DeleteKeyPairCommand({KeyName: name}));
  } catch (error) {
    if (awsErrorCode(error) === 'InvalidKeyPair.NotFound') return;
    throw mapAwsError(error, {action: 'DeleteKeyPair', region});
  }
}
