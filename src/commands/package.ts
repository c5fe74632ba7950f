import {Args, Flags} from '@oclif/core';
import {projectFlags} from '../services/project-flags.js';
import {BaseCommand} from '../core/base-command.js';
import {lifecycleOptions} from '../services/lifecycle/options.js';
import {packageMachine, type PackageResult} from '../services/package.js';

export default class Package extends BaseCommand {
  static override summary = 'Make a Vagrant box of a machine (qemu: its disk as a libvirt box; virtualbox: its exported VM; aws: an AMI and a box naming it).';
  static override description = `As \`vagrant package\`. qemu: the guest gets Vagrant's insecure key back (and loses box's sshd drop-in, its machine-id and SSH host keys), is halted (a running machine is halted, and stays halted; a halted one is booted for this first), and its disk is flattened into one zstd-compressed qcow2 box with the source box's kernel and metadata. The machine's next \`box up\` gives it its own key again. virtualbox: the same guest reset and halt, then \`VBoxManage export\` (OVF + VMDK) packed with a Vagrantfile naming NIC 1's MAC. aws: CreateImage of the instance, tagged, and an aws box whose metadata names the AMI.
Exit codes: 0 ok, 1 failed, 2 usage error, 130 interrupted (no partial box is left).`;

  static override usage = 'package [MACHINE] [--output FILE.box] [--force]';
  static override examples = [
    '<%= config.bin %> package web --output web.box',
    '<%= config.bin %> box add web-snapshot web.box && vagrant box add web-snapshot web.box',
  ];

  static override args = {machine: Args.string({ignoreStdin: true, description: 'The machine to package (may be left out when the project has one).'})};

  static override flags = {
    ...projectFlags,
    output: Flags.string({char: 'o', description: 'The box file to write (default: MACHINE.box).'}),
    force: Flags.boolean({char: 'f', description: 'Replace an existing output file.', default: false}),
  };

  async run(): Promise<PackageResult> {
    const {flags, args} = await this.parse(Package);
    return packageMachine({...lifecycleOptions(flags, args.machine === undefined ? [] : [args.machine], this.ui, this.signal), output: flags.output, force: flags.force});
  }
}
