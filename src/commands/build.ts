import {Args, Flags} from '@oclif/core';
import {BaseCommand} from '../core/base-command.js';
import {parseVarFlags} from '../builder/template.js';
import {defaultTargetName} from '../boxfile/schema.js';
import {targetDescriptors} from '../providers/registry.js';
import {buildBox, type BuildResult} from '../services/build.js';
import type {AwsBakeResult} from '../services/aws-bake.js';

/** The targets box builds boxes for (their descriptors say what the box is). */
const buildTargets = targetDescriptors().filter((t) => t.build);
// Their descriptions hold commas: a serial comma keeps the last one apart.
const buildTargetsHelp = buildTargets.length > 1
  ? `${buildTargets.slice(0, -1).map((t) => t.build!.describe).join(', ')}, or ${buildTargets.at(-1)!.build!.describe}` : buildTargets[0]?.build?.describe ?? '';

export default class Build extends BaseCommand {
  static override description = `Bake a box from a template (templates/<name>/template.yaml).

Runs the template's build method as steps with cleanup (Ctrl-C removes temporary files and
partial output), then compresses the disk to qcow2 (zstd), packages a Vagrant libvirt box and
writes a catalog JSON with its sha256 into --output. Identical inputs (template files, scripts,
variables, method inputs) return the previous box at once unless --force.
The debootstrap method (debian-12-minimal) needs root and Debian's mirror; no VM is booted.`;

  static override examples = [
    'sudo <%= config.bin %> build debian-12-minimal',
    '<%= config.bin %> build debian-12-minimal --output ./out --add',
    '<%= config.bin %> build debian-12-minimal --var hostname=ci --var disk=20 --force',
    '<%= config.bin %> build my-os --template-dir ./templates --dry-run',
  ];

  static override args = {
    template: Args.string({ignoreStdin: true, description: 'Template name (built-in or in --template-dir) or path to a template folder.', required: true}),
  };

  static override flags = {
    var: Flags.string({description: 'Set a template variable (repeatable): --var name=value.', multiple: true}),
    output: Flags.string({description: 'Folder for the .box, its catalog JSON and build.json (default ./output/<template>).'}),
    force: Flags.boolean({description: 'Rebuild even when the inputs did not change.', default: false}),
    'dry-run': Flags.boolean({description: 'Print the plan (steps, variables) without building.', default: false}),
    'template-dir': Flags.string({description: 'Extra folder of templates (or one template folder); repeatable; searched before the built-ins.', multiple: true}),
    add: Flags.boolean({description: 'Also add the built box to the local box store.', default: false}),
    target: Flags.string({description: `Target the box is made for: ${buildTargetsHelp}.`, options: buildTargets.map((t) => t.name), default: defaultTargetName()}),
    'on-error': Flags.string({description: 'On failure: cleanup (default) removes everything; abort keeps work files/VMs for debugging; ask asks at the failed step (cleans up without a terminal).', options: ['cleanup', 'abort', 'ask'], default: 'cleanup'}),
  };

  async run(): Promise<BuildResult | AwsBakeResult> {
    const {args, flags} = await this.parse(Build);
    if (flags.target === 'aws') {
      // AMI bake (owned by the aws area): same template, a different end product.
      const {bakeFromBuild} = await import('../services/aws-bake.js');
      const baked = await bakeFromBuild({
        template: args.template, vars: parseVarFlags(flags.var), templateDirs: flags['template-dir'], outputDir: flags.output, add: flags.add,
        dryRun: flags['dry-run'], onError: flags['on-error'] as 'cleanup' | 'abort' | 'ask', ui: this.ui, signal: this.signal,
      });
      if (!this.jsonEnabled() && !flags['dry-run']) this.log(baked.box.path);
      return baked;
    }
    const result = await buildBox({
      template: args.template,
      vars: parseVarFlags(flags.var),
      outputDir: flags.output,
      templateDirs: flags['template-dir'],
      force: flags.force,
      dryRun: flags['dry-run'],
      add: flags.add,
      target: flags.target as 'qemu' | 'virtualbox',
      onError: flags['on-error'] as 'cleanup' | 'abort' | 'ask',
      ui: this.ui,
      signal: this.signal,
    });
    if (!this.jsonEnabled() && !flags['dry-run']) {
      this.log(result.box.path);
    }
    return result;
  }
}
