import type {InstanceMetadataOptionsRequest} from '@aws-sdk/client-ec2';
import type {AwsSettings} from './settings.js';

/**
 * RunInstances' MetadataOptions for `targets.aws.metadata_options`. By default IMDSv2 is
 * required (HttpTokens=required, endpoint enabled): without a session token the instance's
 * credentials cannot be read by a server-side request forgery through the guest. A Boxfile that
 * needs IMDSv1 (old agents) says `http_tokens: optional`; `http_endpoint: disabled` turns IMDS off.
 */
export function metadataOptions(aws: Pick<AwsSettings, 'metadata_options'>): InstanceMetadataOptionsRequest {
  const m = aws.metadata_options ?? {};
  return {
    HttpTokens: m.http_tokens ?? 'required',
    HttpEndpoint: m.http_endpoint ?? 'enabled',
    ...(m.http_put_response_hop_limit === undefined ? {} : {HttpPutResponseHopLimit: m.http_put_response_hop_limit}),
  };
}
