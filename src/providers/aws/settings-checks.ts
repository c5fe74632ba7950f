import {formatPath, throwIfIssues, type IssuePath} from '../../boxfile/issues.js';
import type {MachineConfig} from '../../boxfile/project.js';
import type {AwsSettings} from './settings.js';
import {machineSettingIssue, type SettingProject} from '../../boxfile/setting-origin.js';
import {BoxError, UsageError} from '../../core/errors.js';
import {blockDeviceProblems} from './block-devices.js';

/** One aws setting box would refuse, located under `targets.aws` (`field`). */
export interface AwsSettingProblem {
  code: string;
  field: IssuePath;
  message: string;
  hint: string;
}

/**
 * Every aws setting of a machine that `box up` (or a bake) refuses before creating anything:
 * a pure function of the merged settings, so `box validate` and `up` run the same checks and
 * report them the same way (with the Boxfile line:col, see `awsSettingsError`).
 */
export function awsSettingsProblems(aws: AwsSettings, machine: Pick<MachineConfig, 'name' | 'ssh'>, purpose: 'up' | 'bake' = 'up'): AwsSettingProblem[] {
  const problems: AwsSettingProblem[] = [];
  if (purpose === 'bake' && !aws.ssh_cidr) {
    problems.push({code: 'ERR_AWS_SSH_CIDR', field: ['ssh_cidr'], message: 'is required for a bake: its temporary security group opens SSH only to it', hint: 'Set targets.aws.ssh_cidr to this host\'s address (e.g. "203.0.113.4/32") in the Boxfile of this folder.'});
  }
  if (purpose === 'up' && !aws.ssh_cidr && !aws.security_groups?.length) {
    problems.push({
      code: 'ERR_AWS_SSH_CIDR', field: ['ssh_cidr'],
      message: `is not set, nor security_groups, so box does not know who may reach SSH on machine "${machine.name}"`,
      hint: 'Set targets.aws.ssh_cidr to your address (e.g. "203.0.113.4/32"; `curl https://checkip.amazonaws.com` shows it), or "0.0.0.0/0" if you really mean the whole internet, or list existing security_groups.',
    });
  }
  if (purpose === 'up' && aws.key_name && !(aws.private_key_path ?? machine.ssh.privateKeyPath)) {
    problems.push({code: 'ERR_AWS_KEY_PATH', field: ['private_key_path'], message: `is required with key_name "${aws.key_name}"`, hint: 'Give the path of the private key of that key pair, or drop key_name to let box create one for this machine.'});
  }
  if (purpose === 'up') problems.push(...blockDeviceProblems(aws.block_device_mappings));
  return problems;
}

/**
 * One usage error (exit 2) for the problems, each at its place in the Boxfile when it can be
 * read (`Boxfile:7:5 targets.aws.ssh_cidr: ...`, as every Boxfile error); a single problem keeps
 * its own code and hint. `box validate` and `box up` both throw exactly this.
 */
export async function awsSettingsError(project: SettingProject | undefined, found: Array<{machine: string; problem: AwsSettingProblem}>): Promise<BoxError> {
  const located = await Promise.all(found.map(async ({machine, problem}) => ({
    problem, issue: project ? await machineSettingIssue(project, machine, ['targets', 'aws', ...problem.field], problem.message) : undefined,
  })));
  const single = found.length === 1 ? found[0].problem : undefined;
  if (located.every((l) => l.issue)) {
    try {
      throwIfIssues(located.map((l) => l.issue!), single?.hint);
    } catch (error) {
      if (!(error instanceof UsageError) || !single) return error as BoxError;
      return new UsageError(single.code, error.message, {hint: single.hint, details: error.details});
    }
  }
  // No readable Boxfile (a provider driven directly): the field and message, without a position.
  const file = project?.boxfilePath ?? 'Boxfile';
  const lines = located.map(({problem}) => `${file}: ${formatPath(['targets', 'aws', ...problem.field])} ${problem.message}`);
  return new UsageError(single?.code ?? 'ERR_BOXFILE_INVALID', lines.join('\n'), {hint: single?.hint ?? 'Fix the fields listed above; `box validate` checks the Boxfile without running anything.'});
}

/** Throws the settings error of one machine, if it has problems (up, bake). */
export async function checkAwsSettings(project: SettingProject | undefined, machine: Pick<MachineConfig, 'name' | 'ssh' | 'aws'>, purpose: 'up' | 'bake' = 'up'): Promise<void> {
  const problems = awsSettingsProblems(machine.aws, machine, purpose);
  if (problems.length > 0) throw await awsSettingsError(project, problems.map((problem) => ({machine: machine.name, problem})));
}
