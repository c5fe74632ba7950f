import {loadProjectIfAny} from '../boxfile/load.js';
import {targetDescriptors} from '../providers/registry.js';
import {versionCheck} from '../providers/shared/version-check.js';
import type {Check, TargetReport} from '../providers/target.js';

export type {Check, TargetReport};

export interface DoctorReport {
  /** The Boxfile whose settings were checked, when run inside a project. */
  boxfile?: string;
  targets: TargetReport[];
  tools: Check[];
}

export async function toolsReport(): Promise<Check[]> {
  return Promise.all([
    versionCheck('ssh', 'ssh', ['-V'], 'Install OpenSSH client (`apt-get install openssh-client`): used by `box ssh`.'),
    versionCheck('debootstrap', 'debootstrap', ['--version'], 'Install debootstrap (`apt-get install debootstrap`): used by `box build` for debootstrap templates.'),
    versionCheck('xorriso', 'xorriso', ['-version'], 'Install xorriso (`apt-get install xorriso`): used to make installer test ISOs.'),
  ]).then((checks) => checks.map((c) => ({...c, detail: c.ok ? c.detail.replace(/^xorriso /, '') : c.detail})));
}

/**
 * Every registered target's own checks, in registry order. In a project, the Boxfile's (and
 * ~/.box/config.yaml's) settings are checked: its qemu binary, its aws region, profile and
 * endpoint. Outside one, the host defaults. A Boxfile that does not validate is reported as
 * such (exit 2), not silently skipped.
 */
export async function runDoctor(options: {cwd?: string} = {}): Promise<DoctorReport> {
  const project = await loadProjectIfAny({cwd: options.cwd ?? process.cwd()});
  const [targets, tools] = await Promise.all([Promise.all(targetDescriptors().map((target) => target.doctor(project))), toolsReport()]);
  return {...(project ? {boxfile: project.boxfilePath} : {}), targets, tools};
}
