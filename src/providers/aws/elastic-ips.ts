import {
  AllocateAddressCommand, AssociateAddressCommand, DescribeAddressesCommand, DisassociateAddressCommand, ReleaseAddressCommand, type Address, type EC2Client, type Tag,
} from '@aws-sdk/client-ec2';
import type {Ui} from '../../core/ui.js';
import {awsCall, awsErrorCode, mapAwsError} from './errors.js';
import type {AwsMachineState} from './machine-state.js';
import {retryOnCodes} from './retry.js';
import {TAG, tagSpec, tagValue} from './tags.js';

export type {Address} from '@aws-sdk/client-ec2';

/** Whose addresses: the project folder and machine name box tags them with. */
export interface AddressOwner {
  root: string;
  machine: string;
}

/**
 * Every Elastic IP of a machine as EC2 has them now: those tagged for it (box:root +
 * box:machine; one AllocateAddress retried after a lost answer makes two, both tagged), plus
 * recorded ones a cloud that drops tags would not list. (DescribeAddresses has no pages.)
 */
export async function machineAddresses(client: EC2Client, s: AwsMachineState, owner: AddressOwner): Promise<Address[]> {
  const tagged = (await awsCall({action: 'DescribeAddresses', region: s.region}, () => client.send(new DescribeAddressesCommand({
    Filters: [{Name: `tag:${TAG.root}`, Values: [owner.root]}, {Name: `tag:${TAG.machine}`, Values: [owner.machine]}],
  })))).Addresses ?? [];
  const seen = new Set(tagged.map((a) => a.AllocationId));
  const untagged = s.elasticIps.map((e) => e.allocationId).filter((id): id is string => id !== undefined && !seen.has(id));
  if (untagged.length === 0) return tagged;
  const recorded = await Promise.all(untagged.map((id) => client.send(new DescribeAddressesCommand({AllocationIds: [id]})).then((out) => out.Addresses ?? [], (error) => {
    if (/NotFound/.test(awsErrorCode(error) ?? '')) return [];
    throw mapAwsError(error, {action: 'DescribeAddresses', region: s.region});
  })));
  return [...tagged, ...recorded.flat()];
}

/** The allocation an address belongs to: its box:token (shared by the copies a retried AllocateAddress made), else its id. */
export function allocationKey(a: Address): string {
  return tagValue(a.Tags, TAG.token) ?? a.AllocationId!;
}

/** AllocateAddress in the VPC domain, tagged on allocation (with the box:token recorded before the call). */
export async function allocateAddress(client: EC2Client, tags: Tag[], region: string): Promise<{allocationId?: string; publicIp?: string}> {
  const out = await awsCall({action: 'AllocateAddress', region}, () => client.send(new AllocateAddressCommand({Domain: 'vpc', TagSpecifications: tagSpec(['elastic-ip'], tags)})));
  return {allocationId: out.AllocationId, publicIp: out.PublicIp};
}

/** AssociateAddress with an instance (never taking the address from another one). Returns the association id. */
export async function associateAddress(client: EC2Client, allocationId: string | undefined, instanceId: string | undefined, region: string): Promise<string | undefined> {
  const out = await awsCall({action: 'AssociateAddress', region}, () => client.send(new AssociateAddressCommand({AllocationId: allocationId, InstanceId: instanceId, AllowReassociation: false})));
  return out.AssociationId;
}

/** Disassociates (if needed) and releases one address; one already gone is fine. */
export async function releaseAddress(client: EC2Client, a: Address, region: string, ui: Ui): Promise<void> {
  if (a.AssociationId) {
    await client.send(new DisassociateAddressCommand({AssociationId: a.AssociationId})).catch((error) => {
      if (!/NotFound/.test(awsErrorCode(error) ?? '')) throw mapAwsError(error, {action: 'DisassociateAddress', region});
    });
  }
  try {
    // Just after a disassociation EC2 may still see the address in use for a moment.
    await retryOnCodes(() => client.send(new ReleaseAddressCommand({AllocationId: a.AllocationId})), {codes: ['InvalidIPAddress.InUse', 'AuthFailure.AddressInUse']});
    ui.info(`released Elastic IP ${a.PublicIp ?? ''} (${a.AllocationId})`);
  } catch (error) {
    const code = awsErrorCode(error) ?? '';
    if (code === 'InvalidAllocationID.NotFound' || code === 'InvalidAddress.NotFound') return;
    throw mapAwsError(error, {action: 'ReleaseAddress', region});
  }
}

/** `box destroy`: releases every Elastic IP of the machine (tagged for it or recorded). */
export async function releaseElasticIps(client: EC2Client, s: AwsMachineState, owner: AddressOwner, ui: Ui): Promise<void> {
  for (const a of await machineAddresses(client, s, owner)) await releaseAddress(client, a, s.region, ui);
}
