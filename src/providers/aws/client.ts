import {EC2Client} from '@aws-sdk/client-ec2';
import {S3Client} from '@aws-sdk/client-s3';
import type {AwsSettings} from '../../boxfile/schema.js';

/** The subset of the aws settings that decides which API and account box talks to. */
export type AwsConnection = Pick<AwsSettings, 'region' | 'profile' | 'endpoint'>;

/**
 * Attempts per API call. The SDK's `standard` retry strategy already backs off exponentially
 * (with jitter) on throttling errors (RequestLimitExceeded, Throttling...) and on 5xx/transient
 * network errors; box only raises the attempt count, since a lifecycle action that dies on one
 * throttled DescribeInstances is worse than one that waits a few seconds. BOX_AWS_MAX_ATTEMPTS
 * overrides it (tests use it to show the retries).
 */
export function maxAttempts(): number {
  const fromEnv = Number(process.env.BOX_AWS_MAX_ATTEMPTS);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : 6;
}

/**
 * The region box uses: the Boxfile's, else the SDK's own resolution (AWS_REGION, then the
 * profile's `region` in ~/.aws/config). Returned undefined means "let the SDK decide".
 */
export function configuredRegion(conn: AwsConnection): string | undefined {
  // An empty variable (AWS_REGION=) means unset, as for the SDK; passing "" would make it throw.
  return conn.region || process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION || undefined;
}

/**
 * An EC2 client honouring region, profile and endpoint. Credentials come from the SDK's
 * standard chain (env vars, SSO, ~/.aws files with `profile`, IMDS...); box never reads or
 * stores them. Without an explicit endpoint the SDK itself honours AWS_ENDPOINT_URL_EC2 and
 * AWS_ENDPOINT_URL (EC2-compatible clouds, the moto emulator in tests).
 */
export function ec2Client(conn: AwsConnection): EC2Client {
  return new EC2Client({
    region: configuredRegion(conn),
    profile: conn.profile,
    endpoint: conn.endpoint,
    maxAttempts: maxAttempts(),
    retryMode: 'standard',
  });
}

/** An S3 client for image import/export; path-style addressing on custom endpoints. */
export function s3Client(conn: AwsConnection & {s3Endpoint?: string}): S3Client {
  return new S3Client({
    region: configuredRegion(conn),
    profile: conn.profile,
    endpoint: conn.s3Endpoint,
    forcePathStyle: conn.s3Endpoint !== undefined || process.env.AWS_ENDPOINT_URL_S3 !== undefined,
    maxAttempts: maxAttempts(),
    retryMode: 'standard',
  });
}

/** The region a client actually uses (after the SDK resolved it from env/profile). */
export async function clientRegion(client: EC2Client | S3Client): Promise<string> {
  return client.config.region();
}
