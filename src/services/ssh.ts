import {BoxError, UsageError} from '../core/errors.js';
import type {SshInfo} from '../providers/provider.js';
import {machineStatus, openMachines, type LifecycleOptions} from './lifecycle/machines.js';
import {sshArgs} from '../communicators/ssh/openssh.js';
import {sharedConnectionOptions} from '../communicators/ssh/shared-connection.js';

export interface SshTargetResult {
  machine: string;
  info: SshInfo;
  /** argv for the system's `ssh` binary. */
  args: string[];
}

/** Picks the one running machine `box ssh` talks to (the only one, or the one named). */
export async function sshTarget(options: LifecycleOptions & {command?: string; tty?: boolean}): Promise<SshTargetResult> {
  const {handles} = await openMachines(options);
  if (handles.length !== 1) {
    throw new UsageError('ERR_MACHINE_REQUIRED', `This project has ${handles.length} machines (${handles.map((h) => h.machine.name).join(', ')}); name one.`, {
      hint: `For example \`box ssh ${handles[0]?.machine.name ?? 'NAME'}\`.`,
    });
  }
  const [handle] = handles;
  const report = await machineStatus(handle);
  if (report.status !== 'running') {
    throw new BoxError('ERR_NOT_RUNNING', `Machine ${handle.machine.name} is ${report.status}${report.reason ? ` (${report.reason})` : ''}.`, {
      hint: report.repair ? `Run \`${report.repair}\`.` : `Run \`box up ${handle.machine.name}\`.`,
    });
  }
  const info = await handle.provider.sshInfo(handle.ctx);
  // The machine's shared connection: only the first `box ssh` pays the SSH handshake.
  return {machine: handle.machine.name, info, args: [...sharedConnectionOptions(handle.ctx.dir), ...sshArgs(info, {command: options.command, tty: options.tty})]};
}
