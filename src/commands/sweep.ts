import {Flags} from '@oclif/core';
import {BaseCommand} from '../core/base-command.js';
import {loadProjectIfAny} from '../boxfile/load.js';
import {projectAwsSettings} from '../providers/aws/settings.js';
import {sweep, type SweepResult} from '../services/sweep.js';
import '../providers/registry.js'; // Loads Boxfiles: registers the targets they may name.

export default class Sweep extends BaseCommand {
  static override description = 'Find cloud resources tagged by box (instances, Elastic IPs, security groups, key pairs, baked AMIs and snapshots) that no project state or stored box knows any more, list them, and remove them.';
  static override usage = 'sweep [--dry-run] [--images] [--region REGION] [--json]';
  static override examples = ['<%= config.bin %> sweep --dry-run', '<%= config.bin %> sweep --region eu-west-1 --json'];
  static override flags = {
    'dry-run': Flags.boolean({char: 'n', description: 'Only list what would be removed.'}),
    region: Flags.string({description: 'AWS region (default: the Boxfile\'s targets.aws.region, else AWS_REGION / the profile).'}),
    profile: Flags.string({description: 'AWS profile (default: the Boxfile\'s, else AWS_PROFILE).'}),
    endpoint: Flags.string({description: 'EC2 API endpoint (EC2-compatible clouds; AWS_ENDPOINT_URL_EC2 works too).'}),
    images: Flags.boolean({description: 'Also deregister finished baked AMIs (and their snapshots) that no box in the store refers to.'}),
    'all-hosts': Flags.boolean({description: 'Also resources box created on other hosts (whose project folders cannot be checked from here).'}),
  };

  async run(): Promise<SweepResult> {
    const {flags} = await this.parse(Sweep);
    // Settings of the project in this folder, when there is one; sweep also works anywhere.
    const aws = projectAwsSettings(await loadProjectIfAny({cwd: process.cwd()}));
    const result = await sweep({
      region: flags.region ?? aws.region, profile: flags.profile ?? aws.profile, endpoint: flags.endpoint ?? aws.endpoint,
      dryRun: flags['dry-run'], allHosts: flags['all-hosts'], images: flags.images, ui: this.ui, signal: this.signal,
    });
    if (!this.jsonEnabled()) {
      if (result.resources.length === 0) this.log(`Nothing to sweep in ${result.region}.`);
      for (const r of result.resources) {
        const what = result.dryRun ? 'would remove' : r.removed ? 'removed' : `NOT removed (${r.error})`;
        this.log(`${r.type}\t${r.id}\t${r.name ?? ''}\t${what}: ${r.reason}`);
      }
    }
    // Listed but still there: a failure (exit 1) even though the report itself is complete.
    if (result.resources.some((r) => r.removed === false)) process.exitCode = 1;
    return result;
  }
}
