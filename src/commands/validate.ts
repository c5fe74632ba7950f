import {projectFlags} from '../services/project-flags.js';
import type {MachineConfig} from '../boxfile/project.js';
import {targetAlias, type TargetInput} from '../boxfile/schema.js';
import {BaseCommand} from '../core/base-command.js';
import {checkTargetSettings} from '../services/check-target-settings.js';
import {loadProject} from '../boxfile/load.js';

export interface ValidateResult {
  valid: true;
  /** Absolute path of the Boxfile that was checked. */
  boxfile: string;
  /** Project name (Boxfile `name`, else its folder name). */
  project: string;
  environment: string | null;
  /** Every machine as box will run it: layers merged, defaults filled, paths absolute. */
  machines: MachineConfig[];
}

export default class Validate extends BaseCommand {
  protected override readonly exitOnInterrupt = true;
  static override description = `Check the Boxfile (and ~/.box/config.yaml) without running anything.

Also runs the checks \`box up\` makes on each machine's target settings before creating
anything (aws: ssh_cidr or security_groups, key_name with its private key, block devices).

Every problem is reported at once as FILE:LINE:COL field.path: what is wrong (got VALUE).
Exit codes: 0 valid, 2 invalid (or unknown --env).`;

  static override examples = [
    '<%= config.bin %> validate',
    '<%= config.bin %> validate --env prod --json',
    '<%= config.bin %> validate --boxfile boxfiles/web-app-db/Boxfile --target aws',
  ];

  static override flags = {...projectFlags};

  async run(): Promise<ValidateResult> {
    const {flags} = await this.parse(Validate);
    const project = await loadProject({cwd: process.cwd(), boxfile: flags.boxfile, env: flags.env, instance: flags.instance, target: flags.target as TargetInput | undefined, signal: this.signal});
    // What `up` checks on the merged settings of its target before creating anything.
    await checkTargetSettings(project);
    const result: ValidateResult = {valid: true, boxfile: project.boxfilePath, project: project.name, environment: project.environment ?? null, machines: project.machines};
    if (!this.jsonEnabled()) {
      const env = project.environment ? `, environment ${project.environment}` : '';
      const count = project.machines.length === 1 ? '1 machine' : `${project.machines.length} machines`;
      this.log(`${project.boxfilePath} is valid: project ${project.name}, ${count}${env}`);
      const width = project.machines.reduce((w, m) => Math.max(w, m.name.length), 0);
      for (const m of project.machines) {
        const target = m.targetAlias ? `${m.target} (${m.targetAlias}: ${targetAlias(m.targetAlias)?.note})` : m.target;
        this.log(`  ${m.name.padEnd(width)}  target ${target.padEnd(10)}  basebox ${m.basebox?.raw ?? `none (AMI from targets.aws.${m.aws.ami ? 'ami' : 'ami_filter'})`}`);
      }
    }
    return result;
  }
}
