import {DescribeInstancesCommand, type EC2Client, type Instance} from '@aws-sdk/client-ec2';
import {awsErrorCode, mapAwsError} from './errors.js';
import type {AwsMachineState} from './machine-state.js';

/** The machine's instance as EC2 describes it now; undefined once EC2 no longer knows it. */
export async function describeInstance(client: EC2Client, s: AwsMachineState): Promise<Instance | undefined> {
  try {
    const out = await client.send(new DescribeInstancesCommand({InstanceIds: [s.instanceId!]}));
    return out.Reservations?.[0]?.Instances?.[0];
  } catch (error) {
    if (awsErrorCode(error) === 'InvalidInstanceID.NotFound') return undefined;
    throw mapAwsError(error, {action: 'DescribeInstances', region: s.region});
  }
}
