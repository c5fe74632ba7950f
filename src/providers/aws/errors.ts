import {BoxError, InterruptedError, isAbortError} from '../../core/errors.js';

/** What was being attempted, so the message can name it ("RunInstances of ami-... in eu-west-1"). */
export interface AwsErrorContext {
  action: string;
  region?: string;
  ami?: string;
  instanceType?: string;
  endpoint?: string;
}

interface SdkError extends Error {
  Code?: string;
  code?: string;
  $metadata?: {httpStatusCode?: number};
  $fault?: 'client' | 'server';
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
  const code = awsErrorCode(error) ?? 'Unknown';
  const where = ctx.region ? ` in ${ctx.region}` : '';
  const raw = redact(e?.message ?? String(error));
  const details = {awsCode: code, action: ctx.action, ...(ctx.region ? {region: ctx.region} : {})};

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
  if (code === 'CredentialsProviderError' || /Could not load credentials/i.test(raw)) {
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
  const netCode = (error as NodeJS.ErrnoException)?.code;
  if (netCode && ['ECONNREFUSED', 'ENOTFOUND', 'ETIMEDOUT', 'ECONNRESET', 'EAI_AGAIN'].includes(netCode)) {
    return new BoxError('ERR_AWS_UNREACHABLE', `Cannot reach the EC2 API${ctx.endpoint ? ` at ${ctx.endpoint}` : ''}${where} (${netCode}) during ${ctx.action}.`, {
      hint: 'Check the network, `targets.aws.endpoint` and AWS_ENDPOINT_URL_EC2.',
      details,
    });
  }
  return new BoxError('ERR_AWS_API', `${ctx.action} failed${where}: ${code}: ${raw}`, {
    hint: e?.$fault === 'server' ? 'AWS reported a server error; box already retried. Try again later.' : 'See the AWS error code above; `box destroy` removes anything half-created.',
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
