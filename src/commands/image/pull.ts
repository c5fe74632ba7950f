import {Args, Flags} from '@oclif/core';
import type {AwsSettings} from '../../providers/aws/settings.js';
import {BaseCommand} from '../../core/base-command.js';
import {pullImage, type PullResult} from '../../services/aws-image.js';
import {loadProjectIfAny} from '../../boxfile/load.js';
import '../../providers/registry.js'; // Loads Boxfiles: registers the targets they may name.

export default class ImagePull extends BaseCommand {
  static override description = `Bring an AMI down as a local libvirt (qemu) box: ExportImage to S3, download, convert to qcow2.

Needs an S3 bucket writable by the VM Export service and the vmimport role (see docs/aws.md).
AMIs made from AWS Marketplace images cannot be exported (an AWS rule).`;

  static override usage = 'image pull AMI --bucket BUCKET [--name NAME] [--version V] [--add]';
  static override examples = ['<%= config.bin %> image pull ami-0123456789abcdef0 --bucket my-exports --name web --version 1.0.0 --add'];
  static override args = {ami: Args.string({ignoreStdin: true, description: 'AMI id.', required: true})};
  static override flags = {
    bucket: Flags.string({description: 'S3 bucket the export is written to.', required: true}),
    prefix: Flags.string({description: 'Key prefix in the bucket.', default: 'box/'}),
    name: Flags.string({description: 'Box name (default: the AMI id).'}),
    version: Flags.string({description: 'Box version (default 0).'}),
    output: Flags.string({description: 'Folder for the .box (default ./output/<name>).'}),
    add: Flags.boolean({description: 'Also add the box to the local store.'}),
    region: Flags.string({description: 'AWS region (default: targets.aws.region, else AWS_REGION / the profile).'}),
    profile: Flags.string({description: 'AWS profile.'}),
    'role-name': Flags.string({description: 'VM Export service role (default vmimport).'}),
    'keep-upload': Flags.boolean({description: 'Keep the exported VMDK in S3.'}),
  };

  async run(): Promise<PullResult> {
    const {args, flags} = await this.parse(ImagePull);
    const aws: AwsSettings = (await loadProjectIfAny({cwd: process.cwd(), target: 'aws'}))?.machines[0]?.aws ?? {};
    const result = await pullImage({
      ami: args.ami, bucket: flags.bucket, prefix: flags.prefix, name: flags.name, version: flags.version, outputDir: flags.output, add: flags.add,
      roleName: flags['role-name'], keepObject: flags['keep-upload'],
      region: flags.region ?? aws.region, profile: flags.profile ?? aws.profile, endpoint: aws.endpoint, ui: this.ui, signal: this.signal,
    });
    if (!this.jsonEnabled()) this.log(result.box.path);
    return result;
  }
}
