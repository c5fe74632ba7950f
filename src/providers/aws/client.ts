import {EC2Client} from '@aws-sdk/client-ec2';
import {S3Client} from '@aws-sdk/client-s3';
import type {AwsSettings} from './settings.js';
import {CALL_CONTEXT, mapAwsError} from './errors.js';

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
  return withCallContext(new EC2Client({
    region: configuredRegion(conn),
    profile: conn.profile,
    endpoint: conn.endpoint,
    maxAttempts: maxAttempts(),
    retryMode: 'standard',
  }), conn, 'ec2');
}

/** An S3 client for image import/export; path-style addressing on custom endpoints. */
export function s3Client(conn: AwsConnection & {s3Endpoint?: string}): S3Client {
  return withCallContext(new S3Client({
    region: configuredRegion(conn),
    profile: conn.profile,
    endpoint: conn.s3Endpoint,
    forcePathStyle: conn.s3Endpoint !== undefined || process.env.AWS_ENDPOINT_URL_S3 !== undefined,
    maxAttempts: maxAttempts(),
    retryMode: 'standard',
  }), {...conn, endpoint: conn.s3Endpoint}, 's3');
}

const connections = new WeakMap<EC2Client | S3Client, AwsConnection>();

/** The region a client actually uses (after the SDK resolved it from env/profile); a clear error when there is none. */
export async function clientRegion(client: EC2Client | S3Client): Promise<string> {
  try {
    return await client.config.region();
  } catch (error) {
    throw mapAwsError(error, {action: 'configure region', profile: connections.get(client)?.profile});
  }
}

/**
 * Errors of every call made with this client carry what the messages need and the SDK does not
 * say: the URL the request went to (also when the connection was refused), the API action, and
 * the named profile (a misspelt one surfaces as "Region is missing" or "Could not load
 * credentials"). `mapAwsError` reads it back with `callContextOf`.
 */
function withCallContext<C extends EC2Client | S3Client>(client: C, conn: AwsConnection, service: 'ec2' | 's3'): C {
  connections.set(client, conn);
  type Ctx = {commandName?: string; boxRequest?: {protocol?: string; hostname?: string; port?: number}};
  // Both clients have the same stack; typed as the EC2 one so one function serves both.
  const stack = client.middlewareStack as EC2Client['middlewareStack'];
  // Outermost (initialize): also sees failures before the request exists (region, endpoint).
  stack.add((next, context) => async (args) => {
    try {
      return await next(args);
    } catch (error) {
      const request = (context as Ctx).boxRequest;
      const endpoint = request?.hostname ? `${request.protocol ?? 'https:'}//${request.hostname}${request.port ? `:${request.port}` : ''}` : configuredEndpoint(conn, service);
      if (error !== null && typeof error === 'object') {
        Object.defineProperty(error, CALL_CONTEXT, {value: {endpoint, action: (context as Ctx).commandName?.replace(/Command$/, ''), profile: conn.profile}, configurable: true});
      }
      throw error;
    }
  }, {step: 'initialize', name: 'boxCallContext'});
  // The request as built (endpoint resolved), remembered for the message above.
  stack.add((next, context) => async (args) => {
    (context as Ctx).boxRequest = (args as {request?: Ctx['boxRequest']}).request;
    return next(args);
  }, {step: 'build', name: 'boxCallRequest'});
  return client;
}

/** The endpoint as configured (the Boxfile, then the SDK's environment variables), when no request was built. */
function configuredEndpoint(conn: AwsConnection, service: 'ec2' | 's3'): string | undefined {
  return conn.endpoint ?? (service === 'ec2' ? process.env.AWS_ENDPOINT_URL_EC2 : process.env.AWS_ENDPOINT_URL_S3) ?? process.env.AWS_ENDPOINT_URL;
}
