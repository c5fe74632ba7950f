import path from 'node:path';
import type {AwsSettings} from '../providers/aws/settings.js';
import {packageBox} from '../boxes/package.js';
import {bakeRecord, bakeSteps, newBakeToken, type BakeProvisioner, type BakeState} from '../builder/methods/aws/bake-steps.js';
import {markBakeKept} from '../providers/aws/bake-records.js';
import {removeDeadWorkDirs, workDirFor} from '../providers/aws/work-dirs.js';
import type {LoadedTemplate} from '../builder/template.js';
import {resolveTemplateFile} from '../builder/templates-dir.js';
import {provisionerPlanLines} from '../builder/build-provisioners.js';
import {UsageError} from '../core/errors.js';
import {runSteps} from '../core/steps.js';
import type {Ui} from '../core/ui.js';
import {checkAmi, newestAmiMatching} from '../providers/aws/ami.js';
import {clientRegion, ec2Client} from '../providers/aws/client.js';
import {mapAwsError} from '../providers/aws/errors.js';
import {checkAwsSettings} from '../providers/aws/settings-checks.js';
import {metadataOptions} from '../providers/aws/metadata-options.js';
import type {SettingProject} from '../boxfile/setting-origin.js';
import {askingSteps, terminalAsk} from '../builder/on-error.js';
import '../providers/registry.js'; // Loads Boxfiles: registers the targets they may name.

export interface AwsBakeOptions {
  template: LoadedTemplate;
  /** Where the bake runs and what it starts from: the Boxfile's targets.aws (region, ami/ami_filter, ssh_cidr...). */
  aws: AwsSettings;
  /** Source AMI from a box (template `method: box` with an aws box): its region → AMI map. */
  sourceAmis?: Record<string, string>;
  /** The Boxfile `aws` came from (and its machine), to point settings errors at their line. */
  project?: SettingProject;
  /** The temporary instance's user-data: instanceUserData of the project's machine. */
  userData?: string | Buffer;
  machine?: string;
  outputDir?: string;
  onError?: 'cleanup' | 'abort' | 'ask';
  /** Print the plan (what would be created, from which AMI, where) and create nothing. */
  dryRun?: boolean;
  /** Mentioned in the plan: the built box would be added to the store. */
  add?: boolean;
  ui: Ui;
  signal: AbortSignal;
}

export interface AwsBakeResult {
  template: string;
  method: 'aws';
  name: string;
  version: string;
  provider: 'aws';
  region: string;
  ami: string;
  amiName: string;
  sourceAmi: string;
  outputDir: string;
  box: {path: string; sha256: string; size: number};
  steps: Array<{name: string; ms: number}>;
  totalMs: number;
  /** Set by --dry-run: the plan that was printed; nothing was created (`ami` is then ""). */
  dryRun?: {plan: string[]; variables: Record<string, string>};
}

/** The template's post_install entries as bake provisioners (script paths made absolute). */
function provisionersOf(template: LoadedTemplate): BakeProvisioner[] {
  return template.definition.post_install.map((p) => ({
    script: p.script ? resolveTemplateFile(template.dir, p.script) : undefined,
    inline: p.inline,
    env: p.env,
    privileged: p.privileged,
  }));
}

/**
 * `box build TEMPLATE --target aws`: the Packer amazon-ebs flow. Launches the source AMI with a
 * temporary key pair and security group, runs the template's post_install scripts over SSH,
 * stops it, creates and tags an AMI, waits until it is available, and writes a box whose
 * metadata.json is {"provider": "aws", "amis": {region: ami}} for `box up` to use. The
 * temporary instance, key and group are removed at the end, on failure and on Ctrl-C.
 */
export async function bakeAmi(options: AwsBakeOptions): Promise<AwsBakeResult> {
  const t0 = performance.now();
  const {template, aws, ui, signal} = options;
  await checkAwsSettings(options.project, {name: options.machine ?? 'default', ssh: {username: template.definition.ssh.username, port: template.definition.ssh.port, timeoutSeconds: 900, insertKey: false}, aws}, 'bake');
  const client = ec2Client(aws);
  const region = await clientRegion(client).catch((error) => { throw mapAwsError(error, {action: 'configure region'}); });
  // Read-only (DescribeImages): a dry run shows which AMI the bake would start from.
  const sourceAmi = await pickSourceAmi(client, aws, options.sourceAmis, region);
  const version = template.definition.version;
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '');
  const outputPath = path.join(path.resolve(options.outputDir ?? path.join('output', template.name)), `${template.name}-${version}-aws.box`);
  if (options.dryRun) {
    const plan = bakePlan({template, aws, region, sourceAmi, amiName: `${template.name}-${version}-${stamp}`, outputPath, add: options.add ?? false});
    for (const line of plan) ui.info(`  - ${line}`);
    const masked = Object.fromEntries(Object.entries(template.variables).map(([k, v]) => [k, template.sensitive.includes(k) ? '********' : v]));
    return {
      template: template.name, method: 'aws', name: template.name, version, provider: 'aws', region, ami: '', amiName: `${template.name}-${version}-${stamp}`, sourceAmi,
      outputDir: path.dirname(outputPath), box: {path: outputPath, sha256: '', size: 0}, steps: [], totalMs: Math.round(performance.now() - t0), dryRun: {plan, variables: masked},
    };
  }
  // The next bake removes what killed ones left in the temp dir (their private keys).
  await removeDeadWorkDirs(['bake']);
  const token = newBakeToken();
  const workDir = workDirFor('bake', token);
  const state: BakeState = {
    client, region, template: template.name, version, sourceAmi,
    instanceType: aws.instance_type ?? 't3.micro', sshUsername: aws.ssh_username ?? template.definition.ssh.username,
    sshPort: template.definition.ssh.port, sshCidr: aws.ssh_cidr!, sshTimeoutMs: 15 * 60_000, subnetId: aws.subnet_id,
    tags: aws.tags ?? {}, sshInterface: aws.ssh_interface ?? 'public', iamInstanceProfile: aws.iam_instance_profile, userData: options.userData, metadataOptions: metadataOptions(aws),
    amiName: `${template.name}-${version}-${stamp}`, provisioners: provisionersOf(template), provisionerTemplate: template, workDir, startedAt: new Date().toISOString(), ui, token,
    onError: options.onError ?? 'cleanup', askOnError: terminalAsk(ui, {signal}),
  };
  const steps: Array<{name: string; ms: number}> = [];
  try {
    await runSteps(askingSteps(bakeSteps), state, {ui, signal, onError: () => (state.onError === 'abort' ? 'abort' : 'cleanup'), onStepDone: (name, ms) => steps.push({name, ms: Math.round(ms)})});
  } catch (error) {
    if (state.onError === 'abort' && !signal.aborted) {
      // The kept instance is only reachable with the temporary key: keep it too (and say so in
      // the record, so that only `box sweep`, which removes the instance, removes the key).
      await markBakeKept(bakeRecord(state));
      ui.warn(`bake resources kept for debugging (remove them with \`box sweep\` when done)${state.host ? `:\n  ssh -i ${state.privateKeyPath} ${state.sshUsername}@${state.host}` : ''}\n  work files: ${workDir}`);
    }
    throw error;
  }
  const outputDir = path.dirname(outputPath);
  const box = await packageBox({
    provider: 'aws',
    metadata: {amis: {[region]: state.ami}, box_build: {template: template.name, version, source_ami: sourceAmi, ami_name: state.amiName, built_at: new Date().toISOString()}},
    files: [],
    outputPath,
  });
  ui.success(`${state.ami} (${state.amiName}) in ${region}; box ${box.path}`);
  return {
    template: template.name, method: 'aws', name: template.name, version, provider: 'aws', region, ami: state.ami!, amiName: state.amiName, sourceAmi,
    outputDir, box, steps, totalMs: Math.round(performance.now() - t0),
  };
}

/** What a bake would do, step by step, for --dry-run (the same order as bakeSteps). */
function bakePlan(p: {template: LoadedTemplate; aws: AwsSettings; region: string; sourceAmi: string; amiName: string; outputPath: string; add: boolean}): string[] {
  const {template, aws} = p;
  const tags = Object.entries(aws.tags ?? {}).map(([k, v]) => `${k}=${v}`);
  const provisioners = template.definition.post_install.map((x) => (x.script ? `script ${x.script}` : 'inline commands'));
  return [
    `record the bake in the box home (bakes/aws), so \`box sweep\` can tell it from a crashed one`,
    `temporary ed25519 key pair box-bake-${template.name}-…, private key in a work folder of the system temp dir`,
    `temporary security group: tcp/${template.definition.ssh.port} from ${aws.ssh_cidr ?? '(targets.aws.ssh_cidr)'}${aws.subnet_id ? ` in the VPC of ${aws.subnet_id}` : ''}`,
    `launch ${aws.instance_type ?? 't3.micro'} from ${p.sourceAmi} in ${p.region}${aws.subnet_id ? ` (subnet ${aws.subnet_id})` : ''}`,
    `instance metadata: ${Object.entries(metadataOptions(aws)).map(([k, v]) => `${k}=${v}`).join(', ')}`,
    `wait for SSH as ${aws.ssh_username ?? template.definition.ssh.username} on the ${aws.ssh_interface ?? 'public'} address`,
    `provision: ${provisioners.length === 0 ? 'nothing (no post_install)' : provisioners.join(', ')}`,
    ...provisionerPlanLines(template),
    'stop the instance',
    `create AMI ${p.amiName} (tagged box:bake=${template.name}, box:version=${template.definition.version}${tags.length ? `, ${tags.join(', ')}` : ''}), wait until available`,
    'remove the temporary instance, key pair and security group',
    `package: ${p.outputPath} (aws box: metadata.json {"provider": "aws", "amis": {"${p.region}": "ami-…"}})`,
    ...(p.add ? [`add to the store as ${template.name} ${template.definition.version}`] : []),
  ];
}

async function pickSourceAmi(client: ReturnType<typeof ec2Client>, aws: AwsSettings, fromBox: Record<string, string> | undefined, region: string): Promise<string> {
  if (fromBox?.[region]) return checkAmi(client, fromBox[region], region);
  if (aws.ami) return checkAmi(client, aws.ami, region);
  if (aws.ami_filter) return (await newestAmiMatching(client, aws.ami_filter, region)).ImageId!;
  throw new UsageError('ERR_AWS_SOURCE_AMI', `No source AMI for the bake in ${region}.`, {
    hint: 'Set targets.aws.ami or targets.aws.ami_filter in the Boxfile of this folder, or use a template with `method: box` whose source is an aws box with an AMI for this region.',
  });
}

export interface AwsBuildOptions {
  template: string;
  vars?: Record<string, string>;
  templateDirs?: string[];
  outputDir?: string;
  add?: boolean;
  onError?: 'cleanup' | 'abort' | 'ask';
  dryRun?: boolean;
  ui: Ui;
  signal: AbortSignal;
}

/**
 * `box build TEMPLATE --target aws` as the build command calls it: the template by name, the
 * AWS settings from the Boxfile of the current folder (targets.aws: region, profile, endpoint,
 * ami/ami_filter, ssh_cidr, instance_type, subnet_id, ssh_username), and for a `method: box`
 * template the source box's region → AMI map. `--add` stores the resulting aws box.
 */
export async function bakeFromBuild(options: AwsBuildOptions): Promise<AwsBakeResult & {added?: {name: string; version: string; provider: string}}> {
  const {familyChoice, resolveTemplate} = await import('../builder/template-families.js');
  const {loadTemplate} = await import('../builder/template.js');
  const {loadProjectIfAny} = await import('../boxfile/load.js');
  const ref = await resolveTemplate(options.template, options.templateDirs);
  const chosen = familyChoice(options.template, ref);
  if (chosen) options.ui.info(chosen);
  const template = await loadTemplate(ref.dir, options.vars ?? {});
  const project = await loadProjectIfAny({cwd: process.cwd(), target: 'aws', signal: options.signal});
  const machine = project?.machines[0];
  const aws: AwsSettings = machine?.aws ?? {};
  // The machine's user_data / cloud_init reach the bake's instance as they reach `box up`'s:
  // the same checks (meta_data and network_config refused at their line, files readable, 16 KiB).
  let userData: string | Buffer | undefined;
  if (project && machine) {
    const {checkCloudInit} = await import('./check-target-settings.js');
    const {instanceUserData} = await import('../providers/aws/aws-provider.js');
    await checkCloudInit(project, [machine]);
    userData = await instanceUserData(machine);
  }
  let sourceAmis: Record<string, string> | undefined;
  const source = template.definition.method === 'box' ? template.definition.source : undefined;
  if (source && (source.provider ?? 'aws') === 'aws' && !aws.ami && !aws.ami_filter) {
    const {resolveBasebox} = await import('../boxes/resolve.js');
    const box = await resolveBasebox({raw: source.box, kind: 'store', name: source.box, versionConstraint: source.version}, {provider: 'aws', ui: options.ui, signal: options.signal});
    sourceAmis = (box.metadata as {amis?: Record<string, string>}).amis;
  }
  const result = await bakeAmi({template, aws, sourceAmis, project, machine: machine?.name, userData, outputDir: options.outputDir, onError: options.onError, dryRun: options.dryRun, add: options.add, ui: options.ui, signal: options.signal});
  if (!options.add || options.dryRun) return result;
  const {addBox} = await import('../boxes/add.js');
  const added = await addBox({source: result.box.path, name: template.name, version: result.version, provider: 'aws', ui: options.ui, signal: options.signal});
  return {...result, added: {name: added.name, version: added.version, provider: added.provider}};
}
