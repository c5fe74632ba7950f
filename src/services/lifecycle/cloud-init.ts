import type {Communicator} from '../../communicators/communicator.js';
import {BoxError} from '../../core/errors.js';

/** What cloud-init did in a guest that has it (`absent`: the guest has no cloud-init). */
export interface CloudInitOutcome {
  status: 'absent' | 'done' | 'disabled' | 'degraded';
  /** The useful lines of `cloud-init status --long` when it was not plainly done. */
  detail?: string;
}

const MARK = 'box-cloud-init:';

/**
 * One round trip: nothing but `command -v` on a guest without cloud-init. cloud-init's own
 * command is Python, which takes seconds just to start under software emulation, so what its
 * run folder already says is read first: disabled at boot by its generator (no datasource, e.g.
 * no seed CD), or finished without errors (result.json). Otherwise `cloud-init status --wait`,
 * bounded in the guest by `timeout` (exit 124), then the long status when it did not end with
 * exit 0. Exit 1 is cloud-init's "error", 2 (cloud-init >= 23.4) "recoverable error" (done, but
 * some module complained). `program` and `runDir` are parameters for tests (a stand-in).
 */
export function cloudInitWaitScript(program: string, timeoutSeconds: number, runDir = '/run/cloud-init'): string {
  const q = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`;
  const ci = q(program);
  const run = q(runDir);
  return [
    `command -v ${ci} >/dev/null 2>&1 || { echo ${MARK}absent; exit 0; }`,
    `if [ -e ${run}/disabled ] && [ ! -e ${run}/enabled ]; then echo ${MARK}disabled; exit 0; fi`,
    `if [ -e ${run}/result.json ] && grep -q '"errors": \\[\\]' ${run}/result.json && ! grep -q '"recoverable_errors": {.' ${run}/result.json; then echo ${MARK}rc=0; exit 0; fi`,
    `timeout ${Math.max(1, Math.round(timeoutSeconds))} ${ci} status --wait >/dev/null 2>&1; rc=$?`,
    `echo ${MARK}rc=$rc`,
    `[ "$rc" = 0 ] || ${ci} status --long 2>&1 | head -n 60`,
    'exit 0',
  ].join('\n');
}

/** Lines of `status --long` worth showing: not the timestamps, not blank. */
function usefulLines(text: string): string {
  return text.split('\n').map((l) => l.trimEnd())
    .filter((l) => l.trim() !== '' && !/^(time|boot_status_code|last_update):/.test(l))
    .join('\n');
}

/**
 * Waits until cloud-init finished in the guest (box up, after SSH is ready and before synced
 * folders and provisioners, which may depend on what user-data installs). Fails with
 * ERR_CLOUD_INIT_FAILED when cloud-init reports an error or does not finish in time.
 */
export async function waitForCloudInit(comm: Communicator, options: {machine: string; timeoutSeconds: number; signal: AbortSignal; program?: string; runDir?: string}): Promise<CloudInitOutcome> {
  let output = '';
  await comm.exec(cloudInitWaitScript(options.program ?? 'cloud-init', options.timeoutSeconds, options.runDir), {
    signal: options.signal,
    onOutput: (_stream, data) => (output += data),
  });
  if (output.includes(`${MARK}absent`)) return {status: 'absent'};
  if (output.includes(`${MARK}disabled`)) return {status: 'disabled'};
  const match = new RegExp(`${MARK}rc=(\\d+)`).exec(output);
  // No answer of the script at all: a guest whose shell is not POSIX sh (Windows' OpenSSH runs
  // cmd.exe) has no cloud-init box can ask this way; that is not a failure of the machine.
  if (!match) return {status: 'absent'};
  const rc = Number(match[1]);
  const long = usefulLines(output.slice(match.index + match[0].length));
  if (rc === 0) return {status: 'done'};
  if (rc === 2) return {status: 'degraded', detail: long};
  const hint = `See /var/log/cloud-init.log and /var/log/cloud-init-output.log in the guest (\`box ssh ${options.machine} -c "sudo cloud-init status --long"\`).`;
  if (rc === 124) {
    throw new BoxError('ERR_CLOUD_INIT_FAILED', `cloud-init in machine ${options.machine} did not finish within ${options.timeoutSeconds} s (the machine's ssh.timeout):\n${long}`, {hint, details: {machine: options.machine, timeoutSeconds: options.timeoutSeconds}});
  }
  throw new BoxError('ERR_CLOUD_INIT_FAILED', `cloud-init failed in machine ${options.machine} (cloud-init status exit code ${rc}):\n${long}`, {
    hint, details: {machine: options.machine, exitCode: rc, status: /^status:\s*(\S+)/m.exec(long)?.[1] ?? 'error'},
  });
}
