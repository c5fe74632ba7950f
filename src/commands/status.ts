import {Flags} from '@oclif/core';
import {projectFlags} from '../services/project-flags.js';
import {BaseCommand} from '../core/base-command.js';
import {lifecycleOptions} from '../services/lifecycle/options.js';
import {status, statusAll, type StatusResult} from '../services/status.js';

export default class Status extends BaseCommand {
  static override description = 'Show machine states (running, stopped, not-created, broken + the command that repairs it), checked against reality.';
  static override strict = false;
  static override usage = 'status [MACHINE...] [--all] [--json]';
  static override examples = ['<%= config.bin %> status', '<%= config.bin %> status --all', '<%= config.bin %> status web --json'];

  static override flags = {
    ...projectFlags,
    all: Flags.boolean({char: 'a', description: 'Every machine box knows about on this host (the user index), from any folder.'}),
    prune: Flags.boolean({description: 'With --all: forget index entries whose project folder is gone, and rewrite a damaged index with the entries it still holds.', dependsOn: ['all']}),
  };

  async run(): Promise<StatusResult> {
    const {flags, argv} = await this.parse(Status);
    const result = flags.all ? await statusAll({signal: this.signal, prune: flags.prune}) : await status(lifecycleOptions(flags, argv, this.ui, this.signal));
    if (!this.jsonEnabled()) this.render(result, flags.all);
    return result;
  }

  private render(result: StatusResult, all: boolean): void {
    if (result.machines.length === 0) {
      this.log(all ? 'No machines.' : 'This project has no machines.');
      return;
    }
    const rows = result.machines.map((m) => [all ? `${m.name} (${m.projectRoot})` : m.name, m.status, m.target, describe(m)]);
    const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i].length)));
    for (const row of rows) this.log(row.map((cell, i) => (i < 3 ? cell.padEnd(widths[i]) : cell)).join('  ').trimEnd());
    for (const m of result.machines.filter((x) => x.status === 'broken')) {
      this.log(`\n${m.name}: ${m.reason}.\n  Repair: ${m.repair}`);
    }
  }
}

function describe(m: StatusResult['machines'][number]): string {
  const d = m.details ?? {};
  const parts: string[] = [];
  if (m.status === 'running' && d.sshPort) parts.push(`ssh 127.0.0.1:${d.sshPort}`);
  if (m.status === 'suspended' && d.suspendedAt) parts.push(`since ${String(d.suspendedAt)}`);
  if (m.privateAddress) parts.push(`private ${m.privateAddress}`);
  if (m.status === 'running' && d.accel) parts.push(String(d.accel));
  if (d.box) parts.push(String(d.box));
  return parts.join(', ');
}
