import {execa} from 'execa';
import type {AwsSettings} from '../boxfile/schema.js';
import {ec2Client} from '../providers/aws/client.js';
import {loadProjectIfAny, projectAwsSettings} from '../boxfile/load.js';
import {tryRun} from '../core/exec.js';
import {detectAccel, qemuKvmProbe} from '../providers/qemu/accel.js';
import {locateVBoxManage} from '../providers/virtualbox/vboxmanage.js';

export interface Check {
  name: string;
  ok: boolean;
  /** What was found (a version, a path) or why it failed. */
  detail: string;
  /** How to fix it when not ok. */
  hint?: string;
}

export interface TargetReport {
  target: 'qemu' | 'virtualbox' | 'aws';
  usable: boolean;
  /** One line: why usable or not. */
  summary: string;
  checks: Check[];
}

export interface DoctorReport {
  /** The Boxfile whose settings were checked, when run inside a project. */
  boxfile?: string;
  targets: TargetReport[];
  tools: Check[];
}

const APT_QEMU = 'Install QEMU: `sudo apt-get install qemu-system-x86 qemu-utils` (Debian/Ubuntu), `sudo dnf install qemu-kvm qemu-img` (Fedora), `brew install qemu` (macOS).';

function firstLine(text: string | null): string {
  return (text ?? '').split('\n')[0].trim();
}

async function versionCheck(name: string, binary: string, args: string[], hint: string): Promise<Check> {
  // stdout and stderr together: some tools (OpenSSH's `ssh -V`) print their version on stderr.
  const result = await execa(binary, args, {all: true, reject: false, timeout: 10_000, env: {LANG: 'C'}});
  const out = String(result.all ?? '');
  return result.failed && !out.trim()
    ? {name, ok: false, detail: `${binary} not found on PATH`, hint}
    : {name, ok: true, detail: firstLine(out)};
}

export async function qemuReport(settings: {binary?: string} = {}): Promise<TargetReport> {
  const binary = settings.binary ?? 'qemu-system-x86_64';
  const system = await versionCheck('qemu-system', binary, ['--version'], APT_QEMU);
  const img = await versionCheck('qemu-img', 'qemu-img', ['--version'], APT_QEMU);
  const checks = [system, img];
  if (system.ok) {
    const decision = await detectAccel('auto', {probe: qemuKvmProbe(binary)});
    checks.push(decision.accel === 'kvm'
      ? {name: 'kvm', ok: true, detail: decision.reason}
      : {name: 'kvm', ok: false, detail: decision.reason.replace(/^using TCG software emulation \(slower\) because /, ''),
        hint: 'Guests still run with TCG software emulation, about 10-20x slower. Enable VT-x/AMD-V (or nested virtualisation) and add yourself to the kvm group for speed.'});
  }
  const usable = system.ok && img.ok;
  const kvm = checks.find((c) => c.name === 'kvm');
  return {
    target: 'qemu',
    usable,
    summary: !usable ? 'QEMU is not installed' : kvm?.ok ? 'usable with KVM acceleration' : 'usable with TCG software emulation (KVM does not work here)',
    checks,
  };
}

export async function virtualboxReport(): Promise<TargetReport> {
  // The same VBoxManage the provider will run (VBOX_MANAGE, else PATH); its version is the last
  // line, after any warning such as "vboxdrv kernel module is not loaded".
  const binary = locateVBoxManage();
  const out = await tryRun(binary, ['--version'], {timeoutMs: 10_000});
  const version = (out ?? '').trim().split('\n').at(-1)?.trim() ?? '';
  const noDriver = /vboxdrv kernel module is not loaded|Kernel driver not installed/.test(out ?? '');
  const vbox: Check = out === null
    ? {name: 'VBoxManage', ok: false, detail: `${binary} not found${binary === 'VBoxManage' ? ' on PATH' : ''}`, hint: 'Install VirtualBox 7 from your distribution or virtualbox.org; `VBoxManage` must be on PATH (or set VBOX_MANAGE to its path).'}
    : noDriver
      ? {name: 'VBoxManage', ok: false, detail: `${version} (${binary}), but the vboxdrv kernel module is not loaded`, hint: 'Run `sudo /sbin/vboxconfig` (Secure Boot may require signing the module).'}
      : {name: 'VBoxManage', ok: true, detail: `${version} (${binary})`};
  return {target: 'virtualbox', usable: vbox.ok, summary: vbox.ok ? `VirtualBox ${version}` : out === null ? 'VirtualBox is not installed' : 'VirtualBox is installed but its kernel module is not loaded', checks: [vbox]};
}

/**
 * AWS: resolves region, endpoint and credentials through the SDK's standard chain (env, profile,
 * SSO, instance role) without calling the API. Only the credential source and a masked key id are
 * shown: secrets never reach output.
 */
export async function awsReport(settings: Pick<AwsSettings, 'region' | 'profile' | 'endpoint'> = {}): Promise<TargetReport> {
  const checks: Check[] = [];
  // The project's targets.aws (region, profile, endpoint) when there is one, as `box up` uses them.
  const client = ec2Client(settings);
  try {
    const region = await client.config.region();
    checks.push({name: 'region', ok: Boolean(region), detail: region || 'not set', hint: region ? undefined : 'Set AWS_REGION or `targets.aws.region` in the Boxfile.'});
  } catch {
    checks.push({name: 'region', ok: false, detail: 'not set', hint: 'Set AWS_REGION, a region in ~/.aws/config, or `targets.aws.region` in the Boxfile.'});
  }
  const endpoint = settings.endpoint ?? process.env.AWS_ENDPOINT_URL_EC2 ?? process.env.AWS_ENDPOINT_URL;
  checks.push({name: 'endpoint', ok: true, detail: endpoint ? `${endpoint} (${settings.endpoint ? 'targets.aws.endpoint' : 'from the environment'})` : 'default AWS endpoint for the region'});
  try {
    const credentials = await client.config.credentials();
    const id = credentials.accessKeyId;
    const profile = settings.profile ?? process.env.AWS_PROFILE;
    checks.push({name: 'credentials', ok: true, detail: `access key ${id.slice(0, 4)}…${id.slice(-2)}${profile ? ` (profile ${profile})` : ''}`});
  } catch {
    checks.push({name: 'credentials', ok: false, detail: 'no credentials found in the standard chain (environment, ~/.aws, SSO, instance role)',
      hint: 'Run `aws configure` or set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or AWS_PROFILE).'});
  } finally {
    client.destroy();
  }
  const usable = checks.every((c) => c.ok);
  return {target: 'aws', usable, summary: usable ? `credentials and region found${endpoint ? `, endpoint ${endpoint}` : ''}` : 'not configured', checks};
}

export async function toolsReport(): Promise<Check[]> {
  return Promise.all([
    versionCheck('ssh', 'ssh', ['-V'], 'Install OpenSSH client (`apt-get install openssh-client`): used by `box ssh`.'),
    versionCheck('debootstrap', 'debootstrap', ['--version'], 'Install debootstrap (`apt-get install debootstrap`): used by `box build` for debootstrap templates.'),
    versionCheck('xorriso', 'xorriso', ['-version'], 'Install xorriso (`apt-get install xorriso`): used to make installer test ISOs.'),
  ]).then((checks) => checks.map((c) => ({...c, detail: c.ok ? c.detail.replace(/^xorriso /, '') : c.detail})));
}

/**
 * In a project, the Boxfile's (and ~/.box/config.yaml's) settings are checked: its qemu binary,
 * its aws region, profile and endpoint. Outside one, the host defaults. A Boxfile that does not
 * validate is reported as such (exit 2), not silently skipped.
 */
export async function runDoctor(options: {cwd?: string} = {}): Promise<DoctorReport> {
  const project = await loadProjectIfAny({cwd: options.cwd ?? process.cwd()});
  const qemuBinary = project?.machines[0]?.qemu.binary;
  const aws = projectAwsSettings(project);
  const [qemu, virtualbox, awsTarget, tools] = await Promise.all([qemuReport({binary: qemuBinary}), virtualboxReport(), awsReport(aws), toolsReport()]);
  return {...(project ? {boxfile: project.boxfilePath} : {}), targets: [qemu, virtualbox, awsTarget], tools};
}
