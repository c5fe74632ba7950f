import type {TargetDescriptor} from '../target.js';
import {awsBoxfileTarget, projectAwsSettings} from './settings.js';

/** The aws target: EC2 instances from AMIs (or from boxes imported as AMIs). */
export const awsTarget: TargetDescriptor = {
  name: 'aws',
  aliases: [],
  settingsSchema: awsBoxfileTarget.settings,
  boxfile: awsBoxfileTarget,
  vagrantProvider: 'aws',
  features: {linkedClones: false, snapshots: true, privateNetwork: true, suspend: true, cloudInit: ['user_data']},
  build: {describe: 'aws (bakes an AMI with the targets.aws settings of the Boxfile here; see docs/aws.md)'},
  async doctor(project) {
    return (await import('./doctor.js')).awsReport(projectAwsSettings(project));
  },
  async checkSettings(project) {
    const {awsSettingsError, awsSettingsProblems} = await import('./settings-checks.js');
    const found = project.machines.filter((m) => m.target === 'aws')
      .flatMap((m) => awsSettingsProblems(m.aws, m).map((problem) => ({machine: m.name, problem})));
    if (found.length > 0) throw await awsSettingsError(project, found);
  },
  async createProvider() {
    return (await import('./aws-provider.js')).createAwsProvider();
  },
  // The work folders of bakes and image transfers that were killed (keys, disk images).
  async removeLeftovers() {
    return (await import('./work-dirs.js')).removeDeadWorkDirs(['bake', 'push', 'pull']);
  },
};
