import {Flags} from '@oclif/core';
import {projectFlags} from '../services/project-flags.js';
import {BaseCommand} from '../core/base-command.js';
import {resume, type ResumeResult} from '../services/resume.js';
import {concurrencyFlags, lifecycleOptions} from '../services/lifecycle/options.js';

export default class Resume extends BaseCommand {
  static override description = 'Continue suspended machines where they were (no boot), and wait for SSH. `box up` does the same for a suspended machine.';
  static override strict = false;
  static override usage = 'resume [MACHINE...] [--provision] [--parallel N | --no-parallel]';
  static override examples = ['<%= config.bin %> resume', '<%= config.bin %> resume web --json'];

  static override flags = {
    ...projectFlags,
    ...concurrencyFlags,
    provision: Flags.boolean({description: 'Run the provisioners after the resume (by default none run).'}),
  };

  async run(): Promise<ResumeResult> {
    const {flags, argv} = await this.parse(Resume);
    return resume({...lifecycleOptions(flags, argv, this.ui, this.signal), provision: flags.provision});
  }
}
