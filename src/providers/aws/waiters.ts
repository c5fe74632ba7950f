import type {EC2Client} from '@aws-sdk/client-ec2';
import {BoxError, errorMessage} from '../../core/errors.js';
import {mapAwsError} from './errors.js';

/** Seconds between waiter polls (EC2's own default is 15 s; moto answers at once). */
function pollSeconds(): number {
  const v = Number(process.env.BOX_AWS_POLL_SECONDS);
  return Number.isFinite(v) && v > 0 ? v : 5;
}

/** The configuration of an SDK waiter (`waitUntilInstanceRunning`...) as box polls. */
export function waiterConfig(client: EC2Client, maxWaitTime: number, signal?: AbortSignal) {
  const minDelay = pollSeconds();
  return {client, maxWaitTime, minDelay, maxDelay: Math.max(minDelay, 30), abortSignal: signal};
}

/** A waiter that gave up or saw a failure state, as a BoxError naming the instance. */
export async function waitFor(what: string, id: string, region: string, fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
  } catch (error) {
    const mapped = mapAwsError(error, {action: what, region});
    if (mapped.code !== 'ERR_AWS_API') throw mapped;
    throw new BoxError('ERR_AWS_WAIT', `${id} did not reach the expected state (${what}) in ${region}: ${errorMessage(error).slice(0, 300)}`, {
      hint: 'Look at it in the EC2 console (state reason, system log); `box destroy` (or `box sweep` for a bake) removes what is left.',
    });
  }
}
