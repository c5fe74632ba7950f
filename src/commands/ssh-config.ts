import {projectFlags} from '../services/project-flags.js';
import {BaseCommand} from '../core/base-command.js';
import {lifecycleOptions} from '../services/lifecycle/options.js';
import {sshConfig, type SshConfigResult} from '../services/ssh-config.js';

export default class SshConfig extends BaseCommand {
  static override description = 'Print OpenSSH Host blocks for machines, for `ssh -F`, scp, rsync, ansible and editors.';
  static override strict = false;
  static override usage = 'ssh-config [MACHINE...]';
  static override examples = [
    '<%= config.bin %> ssh-config > .box/ssh_config && ssh -F .box/ssh_config default',
    '<%= config.bin %> ssh-config web --json',
  ];

  static override flags = {...projectFlags};

  async run(): Promise<SshConfigResult> {
    const {flags, argv} = await this.parse(SshConfig);
    const result = await sshConfig(lifecycleOptions(flags, argv, this.ui, this.signal));
    if (!this.jsonEnabled()) process.stdout.write(result.config);
    return result;
  }
}
