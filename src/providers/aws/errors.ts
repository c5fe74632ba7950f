import {BoxError, InterruptedError, UsageError, isAbortError} from '../../core/errors.js';
import {namedProfile, profileDefined} from './profiles.js';

/** What was being attempted, so the message can name it ("RunInstances of ami-... in eu-west-1"). */
export interface AwsErrorContext {
  action: string;
  region?: string;
  ami?: string;
  instanceType?: string;
  endpoint?: string;
  /** The connection's `targets.aws.profile` (AWS_PROFILE is looked at too). */
  profile?: string;
}

/** Set on errors by the clients of `client.ts`: where the failed call went, and what it was. */
export const CALL_CONTEXT = Symbol.for('box.aws.callContext');

export interface CallContext {
  endpoint?: string;
  action?: string;
  profile?: string;
}

export function callContextOf(error: unknown): CallContext | undefined {
  return error !== null && typeof error === 'object' ? (error as {[CALL_CONTEXT]?: CallContext})[CALL_CONTEXT] : undefined;
}

interface SdkError extends Error {
  Code?: string;
  code?: string;
  $metadata?: {httpStatusCode?: number};
  $fault?: 'client' | 'server';
  $response?: {statusCode?: number; body?: unknown};
}

/** EC2 codes of an API that lacks the action (EC2-compatible clouds and emulators). */
const UNSUPPORTED_CODES = ['InvalidAction', 'UnsupportedOperation', 'NotImplemented', 'UnknownOperationException', 'InvalidParameterValue.UnsupportedAction'];

/** The SDK could not read the answer as an API answer: an HTML error page, an emulator's traceback. */
function unreadableAnswer(e: SdkError): boolean {
  if (/Deserialization error|XML parse error|Expected closing tag|char '.' is not expected/i.test(e?.message ?? '') && e.$response !== undefined) return true;
  // Parsed, but no EC2 error code in it (an HTML page that happens to be well-formed XML).
  return e?.name === 'Unknown' && e.Code === undefined && (e.$metadata?.httpStatusCode ?? 0) >= 400;
}

function isAwsEndpoint(endpoint: string | undefined): boolean {
  return endpoint === undefined || /\.amazonaws\.com(\.cn)?(:\d+)?(\/|$)/.test(endpoint);
}

/**
 * Removes anything that looks like a credential from text that may reach the user: access key
 * ids (AKIA/ASIA...), the secret and session token of the current environment, and
 * `Credential=...` fragments of signed requests.
 */
export function redact(text: string): string {
  let out = text
    .replace(/\b(AKIA|ASIA|AROA|AIDA)[A-Z0-9]{12,}\b/g, '$1****')
    .replace(/Credential=[^,\s]+/g, 'Credential=****')
    .replace(/Signature=[0-9a-f]+/g, 'Signature=****');
  for (const secret of [process.env.AWS_SECRET_ACCESS_KEY, process.env.AWS_SESSION_TOKEN, process.env.AWS_ACCESS_KEY_ID]) {
    if (secret && secret.length >= 8) out = out.split(secret).join('****');
  }
  return out;
}

export function awsErrorCode(error: unknown): string | undefined {
  const e = error as SdkError;
  return e?.Code ?? e?.name ?? e?.code;
}

/**
 * Maps an SDK error to a BoxError with a stable code, a message quoting what was asked, and a
 * next step. Credentials never appear: messages pass through `redact`.
 */
export function mapAwsError(error: unknown, ctx: AwsErrorContext): BoxError {
  if (error instanceof BoxError) return error;
  if (isAbortError(error)) return new InterruptedError();
  const e = error as SdkError;
  const call = callContextOf(error);
  const endpoint = ctx.endpoint ?? call?.endpoint;
  const code = awsErrorCode(error) ?? 'Unknown';
  const where = ctx.region ? ` in ${ctx.region}` : '';
  const raw = redact(e?.message ?? String(error));
  const details = {awsCode: code, action: ctx.action, ...(ctx.region ? {region: ctx.region} : {}), ...(endpoint ? {endpoint} : {})};
  const apiAction = call?.action ?? ctx.action;
  const status = e?.$metadata?.httpStatusCode ?? e?.$response?.statusCode;

  if (UNSUPPORTED_CODES.includes(code) || (unreadableAnswer(e) && !isAwsEndpoint(endpoint))) {
    return new BoxError('ERR_AWS_UNSUPPORTED', `The endpoint ${endpoint ?? '(default)'} does not support ${apiAction}${status ? ` (it answered HTTP ${status}${UNSUPPORTED_CODES.includes(code) ? ` ${code}` : ' with a page that is not an EC2 API answer'})` : ''}.`, {
      hint: `An EC2-compatible cloud or emulator may lack ${apiAction}: run this against AWS itself (targets.aws.endpoint / AWS_ENDPOINT_URL_EC2 unset), or check the endpoint URL.`,
      details,
    });
  }
  if (unreadableAnswer(e)) {
    return new BoxError('ERR_AWS_API', `${ctx.action} failed${where}: AWS answered HTTP ${status ?? '?'} with a page that is not an API answer.`, {
      hint: 'A transient AWS or network problem; box already retried. Try again later.',
      details,
    });
  }

  if (code === 'InsufficientInstanceCapacity' || code === 'InsufficientCapacity' || code === 'InsufficientHostCapacity') {
    return new BoxError('ERR_AWS_CAPACITY', `EC2 has no capacity for instance type "${ctx.instanceType ?? '?'}"${where} right now (${ctx.action}).`, {
      hint: 'Try again in a few minutes, pick another `targets.aws.instance_type`, or a `subnet_id` in another availability zone. Nothing was left running.',
      details,
    });
  }
  if (code.startsWith('InvalidAMIID')) {
    return new BoxError('ERR_AWS_AMI_NOT_FOUND', `AMI "${ctx.ami ?? '?'}" does not exist${where} or is not available to this account (${code}).`, {
      hint: 'AMI ids are per region: check `targets.aws.ami` / `targets.aws.region`, or use `ami_filter` to pick the newest image by owner and name.',
      details,
    });
  }
  if (code === 'UnauthorizedOperation' || code === 'AccessDenied' || code === 'AccessDeniedException') {
    return new BoxError('ERR_AWS_UNAUTHORIZED', `These AWS credentials may not call ${ctx.action}${where}.`, {
      hint: 'Grant the IAM permission (ec2:' + ctx.action + '), or choose another `targets.aws.profile`. `aws sts decode-authorization-message` explains an encoded reason.',
      details,
    });
  }
  if (['AuthFailure', 'InvalidClientTokenId', 'SignatureDoesNotMatch', 'UnrecognizedClientException', 'ExpiredToken', 'RequestExpired', 'InvalidAccessKeyId'].includes(code)) {
    return new BoxError('ERR_AWS_AUTH', `AWS did not accept the credentials (${code}) for ${ctx.action}${where}.`, {
      hint: 'Check AWS_PROFILE / `targets.aws.profile`, refresh an SSO session (`aws sso login`), or the clock of this machine.',
      details,
    });
  }
  const profile = namedProfile(ctx.profile ?? call?.profile);
  const credentialsMissing = code === 'CredentialsProviderError' || /Could not load credentials/i.test(raw);
  if ((credentialsMissing || /Region is missing/i.test(raw)) && profile && !profileDefined(profile.name)) {
    return new UsageError('ERR_AWS_PROFILE', `The AWS profile "${profile.name}" (${profile.from}) is not defined in ${process.env.AWS_CONFIG_FILE ?? '~/.aws/config'} or ${process.env.AWS_SHARED_CREDENTIALS_FILE ?? '~/.aws/credentials'}.`, {
      hint: `Check the spelling (\`aws configure list-profiles\` lists them), create it with \`aws configure --profile ${profile.name}\`, or ${profile.from === 'AWS_PROFILE' ? 'unset AWS_PROFILE' : 'fix targets.aws.profile in the Boxfile'}.`,
      details,
    });
  }
  if (credentialsMissing) {
    return new BoxError('ERR_AWS_NO_CREDENTIALS', 'No AWS credentials were found.', {
      hint: 'Set AWS_PROFILE or `targets.aws.profile`, run `aws configure` / `aws sso login`, or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.',
      details,
    });
  }
  if (/Region is missing/i.test(raw)) {
    return new BoxError('ERR_AWS_REGION', 'No AWS region is configured.', {
      hint: 'Set `targets.aws.region` in the Boxfile, or AWS_REGION, or `region` in your AWS profile.',
      details,
    });
  }
  const netCode = (error as NodeJS.ErrnoException)?.code ?? (e?.name === 'TimeoutError' ? 'ETIMEDOUT' : undefined);
  if (netCode && ['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'ECONNRESET', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE'].includes(netCode)) {
    return new BoxError('ERR_AWS_UNREACHABLE', `Cannot reach the AWS API at ${endpoint ?? `its default endpoint${where}`} (${netCode}) during ${ctx.action}.`, {
      hint: 'Check the network, `targets.aws.endpoint` and AWS_ENDPOINT_URL_EC2.',
      details,
    });
  }
  return new BoxError('ERR_AWS_API', `${ctx.action} failed${where}: ${code}: ${raw}`, {
    hint: e?.$fault === 'server' ? 'AWS reported a server error; box already retried. Try again later.' : 'See the AWS error code above (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html).',
    details,
  });
}

/** Runs one API call and maps its errors. */
export async function awsCall<T>(ctx: AwsErrorContext, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw mapAwsError(error, ctx);
  }
}
