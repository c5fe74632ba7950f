import {Flags} from '@oclif/core';
import {BaseCommand} from '../../core/base-command.js';
import {listTemplateSummaries, type ListedTemplate} from '../../services/template-list.js';

export default class TemplateList extends BaseCommand {
  protected override readonly exitOnInterrupt = true;
  static override summary = 'List the templates `box build` can bake (built-in and from --template-dir).';
  static override description = 'A user template (--template-dir) shadows a built-in one of the same name.\nALIASES are family names (the os: of template.yaml) that `box build` and `box template show` accept for the newest template of the family: `box build centos`.\nExit codes: 0 ok, 1 failed, 2 usage error.';
  static override examples = ['<%= config.bin %> template list', '<%= config.bin %> template list --template-dir ./templates --json'];

  static override flags = {
    'template-dir': Flags.string({description: 'Extra folder of templates (or one template folder); repeatable.', multiple: true}),
  };

  async run(): Promise<{templates: ListedTemplate[]}> {
    const {flags} = await this.parse(TemplateList);
    const templates = await listTemplateSummaries(flags['template-dir']);
    if (!this.jsonEnabled()) {
      const rows = templates.map((t) => [t.name, t.aliases.join(',') || '-', t.method || '?', t.version, t.origin === 'builtin' ? 'builtin' : 'user', t.error ? `INVALID: ${t.error.split('\n')[0]}` : t.description]);
      const heads = ['NAME', 'ALIASES', 'METHOD', 'VERSION', 'ORIGIN'];
      const widths = heads.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
      const line = (r: string[]): string => [...r.slice(0, 5).map((c, i) => c.padEnd(widths[i])), r[5]].join('  ');
      this.log(line([...heads, 'DESCRIPTION']));
      for (const r of rows) this.log(line(r));
    }
    return {templates};
  }
}
