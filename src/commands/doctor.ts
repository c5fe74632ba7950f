import {targetNames} from '../boxfile/schema.js';
import {BaseCommand} from '../core/base-command.js';
import {runDoctor, type Check, type DoctorReport} from '../services/doctor.js';

export default class Doctor extends BaseCommand {
  static override description = `Check which targets (${targetNames().join(', ')}) are usable on this host, and why not.

Reports qemu-system and qemu-img versions, whether KVM really works (else guests run with TCG
software emulation), VBoxManage, and AWS credentials, region and endpoint, each with an install
hint. Inside a project it checks the Boxfile's settings (targets.qemu.binary, targets.aws
region, profile and endpoint). Exits 0 even when some targets are unusable: read the report
(or --json).`;

  static override examples = ['<%= config.bin %> doctor', '<%= config.bin %> doctor --json'];

  async run(): Promise<DoctorReport> {
    await this.parse(Doctor);
    const report = await runDoctor({cwd: process.cwd()});
    if (!this.jsonEnabled()) this.print(report);
    return report;
  }

  private print(report: DoctorReport): void {
    const c = this.ui.color;
    const mark = (check: Check): string => (check.ok ? c.green('✔') : c.yellow('✘'));
    const lines: string[] = report.boxfile ? [c.dim(`settings from ${report.boxfile}`)] : [];
    for (const target of report.targets) {
      lines.push(`${target.usable ? c.green('●') : c.red('●')} ${c.bold(target.target)}: ${target.summary}`);
      for (const check of target.checks) {
        lines.push(`    ${mark(check)} ${check.name}: ${check.detail}`);
        if (!check.ok && check.hint) lines.push(`      ${c.dim(check.hint)}`);
      }
    }
    lines.push(c.bold('tools'));
    for (const check of report.tools) {
      lines.push(`    ${mark(check)} ${check.name}: ${check.detail}`);
      if (!check.ok && check.hint) lines.push(`      ${c.dim(check.hint)}`);
    }
    // The report is the command's output: stdout (only --json mode keeps stdout for JSON).
    this.log(lines.join('\n'));
  }
}
