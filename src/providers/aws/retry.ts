import {setTimeout as sleep} from 'node:timers/promises';
import {awsErrorCode} from './errors.js';

export interface RetryOptions {
  /** Error codes worth waiting for (e.g. DependencyViolation while an instance shuts down). */
  codes: string[];
  attempts?: number;
  firstDelayMs?: number;
  maxDelayMs?: number;
  signal?: AbortSignal;
  onRetry?: (code: string, attempt: number, delayMs: number) => void;
}

/**
 * Retries `fn` while it fails with one of `codes`, doubling the delay each time. The SDK
 * already retries throttling and 5xx; this is for errors that mean "not yet" at the EC2 level,
 * such as DependencyViolation on a security group whose instance is still terminating.
 */
export async function retryOnCodes<T>(fn: () => Promise<T>, options: RetryOptions): Promise<T> {
  const attempts = options.attempts ?? Number(process.env.BOX_AWS_DEPENDENCY_ATTEMPTS ?? 10);
  let delay = options.firstDelayMs ?? Number(process.env.BOX_AWS_RETRY_DELAY_MS ?? 2000);
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      const code = awsErrorCode(error) ?? '';
      if (attempt >= attempts || !options.codes.includes(code)) throw error;
      options.onRetry?.(code, attempt, delay);
      await sleep(delay, undefined, {signal: options.signal});
      delay = Math.min(delay * 2, options.maxDelayMs ?? 30_000);
    }
  }
}
