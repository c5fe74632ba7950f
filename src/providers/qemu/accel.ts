import {constants} from 'node:fs';
import {open, readFile} from 'node:fs/promises';
import {BoxError} from '../../core/errors.js';
import {loadExeca} from '../../core/exec.js';

export type Accel = 'kvm' | 'tcg';

export interface AccelDecision {
  accel: Accel;
  /** Why this accelerator was chosen; shown on stderr and in --json output when it is TCG. */
  reason: string;
}

export interface AccelInputs {
  /** Path of the KVM device (tests point it at a missing file). */
  kvmDevice?: string;
  /** Contents of /proc/cpuinfo (tests feed a fake one); read from the host when absent. */
  cpuinfo?: string;
  /** Last check: does QEMU actually initialise KVM? Resolves with a failure reason or null. */
  probe?: () => Promise<string | null>;
  /** What asked for KVM when `requested` is kvm ("target: kvm", "--target kvm"), for the error. */
  kvmRequiredBy?: string;
}

/**
 * Picks the accelerator. `auto` uses KVM only when it really works: the device opens read-write,
 * the CPU advertises vmx/svm (without them a KVM guest hangs on machines like CI runners with
 * /dev/kvm but no nested virtualisation), and QEMU itself reports KVM enabled. Otherwise TCG,
 * with the reason. An explicit `kvm` that cannot work is an error rather than a silent fallback.
 */
export async function detectAccel(requested: 'auto' | 'kvm' | 'tcg', inputs: AccelInputs = {}): Promise<AccelDecision> {
  if (requested === 'tcg') return {accel: 'tcg', reason: 'accel: tcg is set in the Boxfile'};
  const problem = await kvmProblem(inputs);
  if (!problem) return {accel: 'kvm', reason: 'KVM is available and works'};
  if (requested === 'kvm') {
    const by = inputs.kvmRequiredBy ?? 'targets.qemu.accel: kvm';
    const instead = by.includes('target') && !by.includes('accel')
      ? `Use the qemu target instead (${by.startsWith('--') ? '--target qemu' : '`target: qemu`'}): it uses KVM when it works and TCG software emulation otherwise`
      : 'Set `targets.qemu.accel: auto` (or tcg) in the Boxfile to use software emulation';
    throw new BoxError('ERR_KVM_UNAVAILABLE', `${by} requires KVM, but KVM does not work here: ${problem}.`, {
      hint: `${instead}, or enable virtualisation (VT-x/AMD-V, nested virtualisation) for this host.`,
      exitCode: 2,
    });
  }
  return {accel: 'tcg', reason: `using TCG software emulation (slower) because ${problem}`};
}

async function kvmProblem(inputs: AccelInputs): Promise<string | null> {
  const device = inputs.kvmDevice ?? '/dev/kvm';
  try {
    const handle = await open(device, constants.O_RDWR);
    await handle.close();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? `${device} does not exist` : `${device} cannot be opened (${code})`;
  }
  const cpuinfo = inputs.cpuinfo ?? await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  if (!cpuHasVirtualization(cpuinfo)) return `${device} exists but the CPU has no vmx/svm flag (nested virtualisation is off)`;
  if (inputs.probe) {
    const failure = await inputs.probe();
    if (failure) return failure;
  }
  return null;
}

export function cpuHasVirtualization(cpuinfo: string): boolean {
  return cpuinfo.split('\n').some((line) => /^flags\s*:/.test(line) && /\b(vmx|svm)\b/.test(line));
}

/**
 * Asks QEMU to initialise KVM without running a guest (`-machine none`, paused) and to report
 * `query-kvm` over QMP on stdio; bounded by a timeout so a broken KVM can never hang `up`.
 */
export function qemuKvmProbe(binary: string, timeoutMs = 5000): () => Promise<string | null> {
  return async () => {
    const input = '{"execute":"qmp_capabilities"}\n{"execute":"query-kvm"}\n{"execute":"quit"}\n';
    const execa = await loadExeca();
    const result = await execa(binary, ['-machine', 'none', '-accel', 'kvm', '-S', '-display', 'none', '-nodefaults', '-qmp', 'stdio'], {
      input, timeout: timeoutMs, reject: false, env: {LANG: 'C'},
    });
    if (result.timedOut) return `QEMU did not answer within ${timeoutMs / 1000} s when probing KVM`;
    const match = /"enabled":\s*(true|false)/.exec(String(result.stdout));
    if (match?.[1] === 'true') return null;
    const stderr = String(result.stderr).trim().split('\n').at(-1);
    return `QEMU could not enable KVM${stderr ? `: ${stderr}` : ''}`;
  };
}
