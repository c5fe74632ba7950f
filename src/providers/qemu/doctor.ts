import type {TargetReport} from '../target.js';
import {versionCheck} from '../shared/version-check.js';
import {detectAccel, qemuKvmProbe} from './accel.js';

const APT_QEMU = 'Install QEMU: `sudo apt-get install qemu-system-x86 qemu-utils` (Debian/Ubuntu), `sudo dnf install qemu-kvm qemu-img` (Fedora), `brew install qemu` (macOS).';

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
