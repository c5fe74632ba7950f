import {Args, Flags} from '@oclif/core';
import {BaseCommand} from '../../core/base-command.js';
import {parseVarFlags} from '../../builder/template.js';
import {showTemplate, type TemplateDetails} from '../../services/template-show.js';

export default class TemplateShow extends BaseCommand {
  protected override readonly exitOnInterrupt = true;
  static override summary = 'Show a template: source, variables, boot command, and its answer files rendered and syntax-checked.';
  static override description = `Renders the answer files with the template's variables (sensitive ones masked) and checks them
without booting anything: preseed with debconf-set-selections --checkonly, kickstart with
structure rules, user-data as YAML starting with #cloud-config, AutoYaST/Autounattend as XML.
Exits 1 when an answer file fails its check.
Exit codes: 0 ok, 1 an answer file is invalid, 2 usage error.`;

  static override examples = [
    '<%= config.bin %> template show debian-12',
    '<%= config.bin %> template show rocky-9 --render',
    '<%= config.bin %> template show ./my-template --var hostname=ci --json',
  ];

  static override args = {
    template: Args.string({ignoreStdin: true, description: 'Template name or path to a template folder.', required: true}),
  };

  static override flags = {
    var: Flags.string({description: 'Set a template variable (repeatable): --var name=value.', multiple: true}),
    render: Flags.boolean({description: 'Print the rendered answer files (JSON: answerFiles[].content).', default: false}),
    'template-dir': Flags.string({description: 'Extra folder of templates (or one template folder); repeatable.', multiple: true}),
  };

  async run(): Promise<TemplateDetails> {
    const {args, flags} = await this.parse(TemplateShow);
    const details = await showTemplate(args.template, {templateDirs: flags['template-dir'], vars: parseVarFlags(flags.var), render: flags.render});
    if (!this.jsonEnabled()) {
      this.log(`${details.name} ${details.version} (${details.method}${details.os ? `, ${details.os}` : ''}) — ${details.description}`);
      this.log(`folder: ${details.dir}`);
      if (details.source.iso) this.log(`iso: ${details.source.iso.urls.join(' | ')}\n  checksum: ${details.source.iso.checksum}`);
      if (details.source.debootstrap) this.log(`debootstrap: ${details.source.debootstrap}`);
      if (details.source.box) this.log(`source box: ${details.source.box}`);
      if (details.variables.length > 0) {
        this.log('variables:');
        for (const v of details.variables) this.log(`  ${v.name} = ${v.value}${v.description ? `  (${v.description})` : ''}`);
      }
      if (details.bootCommand.length > 0) this.log(`boot command (after ${details.bootWait}): ${details.bootCommand.join('')}`);
      for (const f of details.answerFiles) {
        this.log(`answer file ${f.name} [${f.kind}, ${f.checker}]: ${f.ok ? 'ok' : `INVALID\n    ${f.problems.join('\n    ')}`}`);
        if (f.content !== undefined) this.log(f.content.replace(/\n$/, '').split('\n').map((l) => `    | ${l}`).join('\n'));
      }
      if (details.postInstall.length > 0) this.log(`post-install: ${details.postInstall.join(', ')}`);
      this.log(`vm: ${details.hardware.cpus} cpus, memory ${details.hardware.memory}, disk ${details.hardware.disk} (${details.hardware.diskInterface}, ${details.hardware.netDevice}); ssh as ${details.ssh.username}`);
    }
    if (details.answerFiles.some((f) => !f.ok)) process.exitCode = 1;
    return details;
  }
}
