import {Args, Flags} from '@oclif/core';
import type {AwsSettings} from '../../providers/aws/settings.js';
import {BaseCommand} from '../../core/base-command.js';
import {UsageError} from '../../core/errors.js';
import {pushImage, type PushResult} from '../../services/aws-image.js';
import {loadProjectIfAny} from '../../boxfile/load.js';
import '../../providers/registry.js'; // Loads Boxfiles: registers the targets they may name.

export default class ImagePush extends BaseCommand {
  static override description = `Import a local (libvirt/qemu) box as an AMI: qcow2 → VMDK, upload to S3, ImportImage, poll until done.

The AMI is tagged and an aws box of the same name and version is added to the store, so the same
Boxfile runs on EC2 with \`box up --target aws\`. Needs an S3 bucket and the vmimport service role
(see docs/aws.md). Region, profile and endpoint come from the Boxfile here (targets.aws) or the flags.`;

  static override usage = 'image push BOX --target aws --bucket BUCKET [--version V]';
  static override examples = ['<%= config.bin %> image push debian-12-minimal --target aws --bucket my-imports'];
  static override args = {box: Args.string({ignoreStdin: true, description: 'Name of a libvirt box in the store.', required: true})};
  static override flags = {
    target: Flags.string({description: 'Where to push (only aws for now).', options: ['aws'], required: true}),
    bucket: Flags.string({description: 'S3 bucket the disk is uploaded to (the vmimport role must be able to read it).', required: true}),
    prefix: Flags.string({description: 'Key prefix in the bucket.', default: 'box/'}),
    version: Flags.string({description: 'Box version or constraint (default: newest).'}),
    region: Flags.string({description: 'AWS region (default: targets.aws.region, else AWS_REGION / the profile).'}),
    profile: Flags.string({description: 'AWS profile.'}),
    'role-name': Flags.string({description: 'VM Import service role (default vmimport).'}),
    'keep-upload': Flags.boolean({description: 'Keep the uploaded VMDK in S3 after the import.'}),
  };

  async run(): Promise<PushResult> {
    const {args, flags} = await this.parse(ImagePush);
    if (flags.target !== 'aws') throw new UsageError('ERR_TARGET', `Cannot push to ${flags.target}.`, {hint: 'Use --target aws.'});
    const aws: AwsSettings = (await loadProjectIfAny({cwd: process.cwd(), target: 'aws'}))?.machines[0]?.aws ?? {};
    return pushImage({
      name: args.box, version: flags.version, bucket: flags.bucket, prefix: flags.prefix, roleName: flags['role-name'], keepObject: flags['keep-upload'],
      region: flags.region ?? aws.region, profile: flags.profile ?? aws.profile, endpoint: aws.endpoint, ui: this.ui, signal: this.signal,
    });
  }
}
