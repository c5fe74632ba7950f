import {EC2Client} from '@aws-sdk/client-ec2';
import {tryRun} from '../core/exec.js';
import {detectAccel, qemuKvmProbe} from '../providers/qemu/accel.js';

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
  targets: TargetReport[];
  tools: Check[];
}

const APT_QEMU = 'Install QEMU: `sudo apt-get install qemu-system-x86 qemu-utils` (Debian/Ubuntu), `sudo dnf install qemu-kvm qemu-img` (Fedora), `brew install qemu` (macOS).';

function firstLine(text: string | null): string {
  return (text ?? '').split('\n')[0].trim();
}

async function versionCheck(name: string, binary: string, args: string[], hint: string): Promise<Check> {
  const out = await tryRun(binary, args, {timeoutMs: 10_000});
  return out === null
    ? {name, ok: false, detail: `${binary} not found on PATH`, hint}
    : {name, ok: true, detail: firstLine(out)};
}

export async function qemuReport(): Promise<TargetReport> {
  const binary = 'qemu-system-x86_64';
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
  const vbox = await versionCheck('VBoxManage', 'VBoxManage', ['--version'], 'Install VirtualBox 7 from your distribution or virtualbox.org; `VBoxManage` must be on PATH.');
  return {target: 'virtualbox', usable: vbox.ok, summary: vbox.ok ? `VirtualBox ${vbox.detail}` : 'VirtualBox is not installed', checks: [vbox]};
}

/**
 * AWS: resolves region, endpoint and credentials through the SDK's standard chain (env, profile,
 * SSO, instance role) without calling the API. Only the credential source and a masked key id are
 * shown: secrets never reach output.
 */
export async function awsReport(): Promise<TargetReport> {
  const checks: Check[] = [];
  const client = new EC2Client({});
  try {
    const region = await client.config.region();
    checks.push({name: 'region', ok: Boolean(region), detail: region || 'not set', hint: region ? undefined : 'Set AWS_REGION or `targets.aws.region` in the Boxfile.'});
  } catch {
    checks.push({name: 'region', ok: false, detail: 'not set', hint: 'Set AWS_REGION, a region in ~/.aws/config, or `targets.aws.region` in the Boxfile.'});
  }
  const endpoint = process.env.AWS_ENDPOINT_URL_EC2 ?? process.env.AWS_ENDPOINT_URL;
  checks.push({name: 'endpoint', ok: true, detail: endpoint ? `${endpoint} (from the environment)` : 'default AWS endpoint for the region'});
  try {
    const credentials = await client.config.credentials();
    const id = credentials.accessKeyId;
    checks.push({name: 'credentials', ok: true, detail: `access key ${id.slice(0, 4)}…${id.slice(-2)}${process.env.AWS_PROFILE ? ` (profile ${process.env.AWS_PROFILE})` : ''}`});
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

export async function runDoctor(): Promise<DoctorReport> {
  const [qemu, virtualbox, aws, tools] = await Promise.all([qemuReport(), virtualboxReport(), awsReport(), toolsReport()]);
  return {targets: [qemu, virtualbox, aws], tools};
}
