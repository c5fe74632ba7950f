import {Flags} from '@oclif/core';
import {projectFlags} from '../services/project-flags.js';
import {BaseCommand} from '../core/base-command.js';
import {concurrencyFlags, lifecycleOptions} from '../services/lifecycle/options.js';
import {up, type UpResult} from '../services/up.js';
import {parseProvisionWith} from '../provisioners/select.js';

export default class Up extends BaseCommand {
  static override description = 'Create and start machines (all by default), wait for SSH, and run the provisioners on first up.';
  static override strict = false;
  static override args = {};
  static override usage = 'up [MACHINE...] [--provision | --no-provision | --provision-with NAME[,NAME]] [--no-destroy-on-error] [--parallel N | --no-parallel] [NEW --from MACHINE[@SNAPSHOT]]';
  static override examples = [
    '<%= config.bin %> up',
    '<%= config.bin %> up web --provision',
    '<%= config.bin %> up --provision-with site',
    '<%= config.bin %> up --no-provision --json',
    '<%= config.bin %> up web2 --from web@before-upgrade',
  ];

  static override flags = {
    ...projectFlags,
    ...concurrencyFlags,
    provision: Flags.boolean({allowNo: true, description: 'Run the provisioners even if they already ran (--no-provision: never). Default: first up only.'}),
    'provision-with': Flags.string({multiple: true, multipleNonGreedy: true, description: 'Run only these provisioners (names or types, comma-separated), whatever their `run:`; implies --provision.', exclusive: ['provision']}),
    'destroy-on-error': Flags.boolean({allowNo: true, default: true, description: 'Destroy a new machine whose up failed (--no-destroy-on-error keeps it for debugging).'}),
    from: Flags.string({description: 'Make the one named (new) machine from MACHINE\'s disk, or from one of its snapshots: MACHINE[@SNAPSHOT] (qemu: a linked clone; virtualbox: a full clone; aws: an instance from an image of its volumes). Undeclared names inherit MACHINE\'s settings.'}),
  };

  async run(): Promise<UpResult> {
    const {flags, argv} = await this.parse(Up);
    return up({...lifecycleOptions(flags, argv, this.ui, this.signal), provision: flags.provision, provisionWith: parseProvisionWith(flags['provision-with']), destroyOnError: flags['destroy-on-error'], ...(flags.from === undefined ? {} : {from: flags.from})});
  }
}
