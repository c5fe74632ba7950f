import type {AwsSettings} from './settings.js';
import type {Check, TargetReport} from '../target.js';
import {ec2Client} from './client.js';

/**
 * AWS: resolves region, endpoint and credentials through the SDK's standard chain (env, profile,
 * SSO, instance role) without calling the API. Only the credential source and a masked key id are
 * shown: secrets never reach output.
 */
export async function awsReport(settings: Pick<AwsSettings, 'region' | 'profile' | 'endpoint'> = {}): Promise<TargetReport> {
  const checks: Check[] = [];
  // The project's targets.aws (region, profile, endpoint) when there is one, as `box up` uses them.
  const client = ec2Client(settings);
  try {
    const region = await client.config.region();
    checks.push({name: 'region', ok: Boolean(region), detail: region || 'not set', hint: region ? undefined : 'Set AWS_REGION or `targets.aws.region` in the Boxfile.'});
  } catch {
    checks.push({name: 'region', ok: false, detail: 'not set', hint: 'Set AWS_REGION, a region in ~/.aws/config, or `targets.aws.region` in the Boxfile.'});
  }
  const endpoint = settings.endpoint ?? process.env.AWS_ENDPOINT_URL_EC2 ?? process.env.AWS_ENDPOINT_URL;
  checks.push({name: 'endpoint', ok: true, detail: endpoint ? `${endpoint} (${settings.endpoint ? 'targets.aws.endpoint' : 'from the environment'})` : 'default AWS endpoint for the region'});
  try {
    const credentials = await client.config.credentials();
    const id = credentials.accessKeyId;
    const profile = settings.profile ?? process.env.AWS_PROFILE;
    checks.push({name: 'credentials', ok: true, detail: `access key ${id.slice(0, 4)}…${id.slice(-2)}${profile ? ` (profile ${profile})` : ''}`});
  } catch {
    checks.push({name: 'credentials', ok: false, detail: 'no credentials found in the standard chain (environment, ~/.aws, SSO, instance role)',
      hint: 'Run `aws configure` or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or AWS_PROFILE).'});
  } finally {
    client.destroy();
  }
  const usable = checks.every((c) => c.ok);
  return {target: 'aws', usable, summary: usable ? `credentials and region found${endpoint ? `, endpoint ${endpoint}` : ''}` : 'not configured', checks};
}
