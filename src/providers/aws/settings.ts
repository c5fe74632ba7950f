// The Boxfile side of the aws target: its `targets.aws` settings (as written: the provider reads
// them as they are), and when a machine needs no basebox. Imported by the descriptor: zod and
// boxfile/ only.
import {z} from 'zod';
import type {Project} from '../../boxfile/project.js';
import type {BoxfileTargetPlugin} from '../../boxfile/schema.js';

export const blockDeviceSchema = z.object({
  device_name: z.string().regex(/^\/dev\/(sd|xvd|nvme)[a-z0-9]+$/, 'expected a device name such as /dev/sdb'),
  virtual_name: z.string().regex(/^ephemeral\d+$/, 'expected ephemeral0..ephemeralN').optional(),
  volume_size: z.number().int().positive().optional(),
  volume_type: z.enum(['gp2', 'gp3', 'io1', 'io2', 'st1', 'sc1', 'standard']).optional(),
  iops: z.number().int().positive().optional(),
  encrypted: z.boolean().optional(),
  delete_on_termination: z.boolean().optional(),
  snapshot_id: z.string().optional(),
}).strict();

export const awsSettingsSchema = z.object({
  region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d+$|^[a-z0-9-]+$/, 'expected a region such as eu-west-1').optional(),
  profile: z.string().optional(),
  endpoint: z.string().url().optional().describe('EC2 API endpoint, for EC2-compatible clouds (also AWS_ENDPOINT_URL_EC2).'),
  ami: z.string().regex(/^ami-[0-9a-f]+$/, 'expected an AMI id such as ami-0123456789abcdef0').optional(),
  ami_filter: z.object({owner: z.string(), name: z.string()}).strict().optional().describe('Pick the newest AMI of this owner whose name matches (wildcards allowed).'),
  instance_type: z.string().optional(),
  subnet_id: z.string().optional(),
  security_groups: z.array(z.string()).optional(),
  ssh_cidr: z.string().regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, 'expected a CIDR such as 203.0.113.4/32').optional(),
  key_name: z.string().optional(),
  private_key_path: z.string().optional(),
  ssh_username: z.string().optional(),
  ssh_interface: z.enum(['public', 'private']).optional(),
  user_data: z.string().optional(),
  block_device_mappings: z.array(blockDeviceSchema).optional(),
  tags: z.record(z.string()).optional(),
  iam_instance_profile: z.string().optional(),
  spot: z.union([z.boolean(), z.object({max_price: z.string().optional()}).strict()]).optional(),
  hibernation: z.boolean().optional().describe('Launch the instance enabled for hibernation (encrypted root volume large enough for its RAM), so `box suspend` hibernates it. Applies at launch only.'),
  metadata_options: z.object({
    http_tokens: z.enum(['required', 'optional']).optional().describe('required (default): IMDSv2 only, session tokens; optional: also IMDSv1.'),
    http_endpoint: z.enum(['enabled', 'disabled']).optional().describe('The instance metadata service: enabled (default) or disabled.'),
    http_put_response_hop_limit: z.number().int().min(1).max(64).optional().describe('Hops a token response may travel (EC2 default 1; 2 for containers on the instance).'),
  }).strict().optional().describe('Instance metadata service (IMDS) of the instance, for up and bakes. Default: IMDSv2 required, endpoint enabled.'),
}).strict();

export type AwsSettings = z.output<typeof awsSettingsSchema>;
export type BlockDeviceMapping = z.output<typeof blockDeviceSchema>;

declare module '../../boxfile/project.js' {
  interface TargetConfigs {
    aws: AwsSettings;
  }
}

export const awsBoxfileTarget: BoxfileTargetPlugin = {
  name: 'aws',
  settings: awsSettingsSchema,
  defaults: {},
  resolve: (settings) => settings,
  // An AMI named in the settings is the image (vagrant-aws needed a "dummy box" for this).
  baseboxOptional: {test: (settings) => Boolean(settings.ami || settings.ami_filter), when: 'an aws machine with targets.aws.ami or ami_filter'},
  hostFiles: ['private_key_path'],
  starter: () => ['region: eu-west-1', 'instance_type: t3.micro', 'ami: ami-0123456789abcdef0'],
};

/** The aws connection settings a project-wide command uses: those of the first machine that sets region, endpoint or profile. */
export function projectAwsSettings(project: Project | undefined): AwsSettings {
  return project?.machines.find((m) => m.aws.region || m.aws.endpoint || m.aws.profile)?.aws ?? {};
}
