import {mkdir, readFile, rm} from 'node:fs/promises';
import path from 'node:path';
import {execa} from 'execa';
import {BoxError} from '../../../core/errors.js';
import {run} from '../../../core/exec.js';
import type {Step} from '../../../core/steps.js';
import {detectAccel} from '../../../providers/qemu/accel.js';
import {buildVmQemuArgs} from '../../../providers/qemu/args.js';
import {freePort} from '../../../providers/shared/ports.js';
import {pidAlive, waitForExit} from '../../../core/processes.js';
import {QmpClient} from '../../../providers/qemu/qmp.js';
import {diskGiB, memoryMiB} from '../../template.js';
import type {BuildState} from '../index.js';
import {VM_FILES, iso, reachVmLines, type IsoData} from './state.js';

/** Step: the empty target disk (sparse qcow2) in the build's VM folder. */
export const createDiskStep: Step<BuildState> = {
  name: 'create-disk',
  async run(state, signal) {
    const d = iso(state);
    d.vmDir = path.join(state.workDir, 'vm');
    await mkdir(d.vmDir, {recursive: true});
    const disk = path.join(d.vmDir, VM_FILES.disk);
    d.disk = disk;
    await run('qemu-img', ['create', '-q', '-f', 'qcow2', disk, `${diskGiB(state.template.definition.disk)}G`], {signal, errorCode: 'ERR_QEMU_IMG'});
  },
  async cleanup(state, outcome) {
    const d = iso(state);
    // The disk only outlives the build inside the packaged box; a failed build keeps nothing.
    if (outcome !== 'succeeded' && d.vmDir) await rm(d.vmDir, {recursive: true, force: true});
  },
};

/** QEMU arguments for the build VM (exported for tests and --dry-run). */
export function buildVmArgs(state: BuildState, d: IsoData, accel: 'kvm' | 'tcg'): string[] {
  const t = state.template.definition;
  return buildVmQemuArgs({
    name: `box-build-${state.template.name}`,
    accel,
    cpus: t.cpus,
    memoryMiB: memoryMiB(t.memory),
    sshPort: d.sshPort!,
    sshGuestPort: t.ssh.port,
    nicModel: t.net_device,
    diskBus: t.disk_interface,
    disk: d.disk!,
    qmpSocket: d.qmpSocket!,
    serialLog: d.serialLog!,
    pidFile: path.join(d.vmDir!, VM_FILES.pid),
    cdrom: d.isoPath,
    kernel: d.kernelPath ? {kernel: d.kernelPath, initrd: d.initrdPath!, cmdline: t.kernel_cmdline} : undefined,
    answerCd: d.answerCd,
  });
}

/**
 * Step: boots the installer under QEMU with a QMP socket (to type keys and power off), the
 * serial console in a file, and SSH forwarded to a free loopback port.
 */
export const bootStep: Step<BuildState> = {
  name: 'boot',
  async run(state) {
    const d = iso(state);
    const decision = await detectAccel('auto');
    if (decision.accel === 'tcg') state.ui.warn(decision.reason);
    d.qmpSocket = path.join(d.vmDir!, VM_FILES.qmp);
    d.serialLog = path.join(d.vmDir!, VM_FILES.serialLog);
    d.sshPort = await freePort();
    const args = buildVmArgs(state, d, decision.accel);
    // Not tied to our abort signal: the cleanup stops QEMU gracefully-then-hard, and
    // --on-error abort must be able to leave it running.
    // Output goes to a file, not a pipe: with --on-error abort QEMU must outlive box.
    const log = path.join(d.vmDir!, VM_FILES.qemuLog);
    // Own process group and no execa exit hook: a terminal's Ctrl-C reaches box, whose cleanup
    // stops QEMU (QMP quit), and --on-error abort can leave it running. If box exits any other
    // way, the exit hook below still kills it.
    const child = execa('qemu-system-x86_64', args, {reject: false, stdin: 'ignore', stdout: 'ignore', stderr: {file: log}, env: {LANG: 'C'}, detached: true, cleanup: false});
    d.qemu = child;
    d.qemuPid = child.pid;
    const pid = child.pid;
    d.killOnExit = () => {
      try {
        if (pid) process.kill(pid, 'SIGKILL');
      } catch { /* already gone */ }
    };
    process.on('exit', d.killOnExit);
    try {
      d.qmp = await connectQmp(d.qmpSocket, 15_000, () => child.exitCode !== null || !pidAlive(child.pid ?? 0));
    } catch (error) {
      const stderr = (await readFile(log, 'utf8').catch(() => '')).trim();
      throw new BoxError('ERR_QEMU_START', `QEMU did not start: ${stderr || (error as Error).message}`, {hint: 'Check that qemu-system-x86 is installed and the ISO is readable.'});
    }
    state.ui.info(`build VM is up:\n  ${reachVmLines(d).join('\n  ')}`);
  },
  async cleanup(state, outcome) {
    const d = iso(state);
    if (outcome === 'failed' && state.onError === 'abort') return;
    await stopVm(d);
  },
};

async function connectQmp(socket: string, timeoutMs: number, exited: () => boolean): Promise<QmpClient> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await QmpClient.connect(socket, 3000);
    } catch (error) {
      if (exited() || Date.now() > deadline) throw error;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Stops the build VM: QMP quit, then SIGKILL if it is still there after 5 s. Idempotent. */
export async function stopVm(d: IsoData): Promise<void> {
  const child = d.qemu;
  if (!child) return;
  if (child.exitCode === null && child.signalCode === null) {
    await d.qmp?.execute('quit').catch(() => undefined);
    if (!(await waitForExit(child.pid!, 5000))) child.kill('SIGKILL');
  }
  d.qmp?.close();
  d.qmp = undefined;
  await child.catch(() => undefined);
  d.qemu = undefined;
  if (d.killOnExit) process.off('exit', d.killOnExit);
}

/** --on-error abort: leave QEMU running on its own and let box exit (the HTTP server cannot outlive box). */
export async function detachVm(d: IsoData): Promise<void> {
  d.qmp?.close();
  d.qmp = undefined;
  d.qemu?.unref();
  if (d.killOnExit) process.off('exit', d.killOnExit);
  await d.server?.stop();
}
