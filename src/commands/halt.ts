import {Flags} from '@oclif/core';
import {projectFlags} from '../services/project-flags.js';
import {BaseCommand} from '../core/base-command.js';
import {halt, type HaltResult} from '../services/halt.js';
import {suspend, type SuspendResult} from '../services/suspend.js';
import {concurrencyFlags, lifecycleOptions} from '../services/lifecycle/options.js';

export default class Halt extends BaseCommand {
  static override description = 'Shut machines down: ACPI power button, then poweroff over SSH, then a kill after --timeout.';
  static override strict = false;
  static override usage = 'halt [MACHINE...] [--force | --suspend] [--timeout SECONDS] [--parallel N | --no-parallel]';
  static override examples = ['<%= config.bin %> halt', '<%= config.bin %> halt web --force', '<%= config.bin %> halt --suspend'];

  static override flags = {
    ...projectFlags,
    ...concurrencyFlags,
    force: Flags.boolean({char: 'f', description: 'Kill at once (like pulling the plug). On a suspended machine: discard its saved state.', exclusive: ['suspend']}),
    suspend: Flags.boolean({description: 'Suspend instead of shutting down (as `box suspend`): the next `box up` resumes without a boot.', exclusive: ['force']}),
    timeout: Flags.integer({description: 'Seconds to wait for a graceful shutdown before killing.', default: 60, min: 1}),
  };

  async run(): Promise<HaltResult | SuspendResult> {
    const {flags, argv} = await this.parse(Halt);
    if (flags.suspend) return suspend(lifecycleOptions(flags, argv, this.ui, this.signal));
    return halt({...lifecycleOptions(flags, argv, this.ui, this.signal), force: flags.force, timeoutSeconds: flags.timeout});
  }
}
