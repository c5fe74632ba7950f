import {rm} from 'node:fs/promises';
import {BoxError} from '../../core/errors.js';
import {updateMachineState, type MachineState} from '../../core/state.js';
import {runSteps, type Step} from '../../core/steps.js';
import {SshCommunicator} from '../../communicators/ssh/ssh-communicator.js';
import type {MachineContext, PackagedMachine, Provider, SshInfo, StatusReport} from '../provider.js';
import {resetGuestForPackaging} from './package-guest.js';

/** What the steps around the guest did, for the cleanup (restoreMachine) and the target's own steps. */
export interface PackageGuestState {
  /** box booted the halted machine to reset its guest (so a failure halts it again). */
  booted?: boolean;
  /** The guest no longer holds the machine's key (Vagrant's insecure key is back). */
  reset?: boolean;
  halted?: boolean;
  packaged?: PackagedMachine;
}

/** The machine's status before packaging: running or stopped (anything else is refused, naming its repair). */
export async function statusForPackage(provider: Provider, ctx: MachineContext): Promise<StatusReport> {
  const {machine} = ctx;
  const before = await provider.status(ctx);
  if (before.status !== 'running' && before.status !== 'stopped') {
    throw new BoxError('ERR_MACHINE_BROKEN', `Machine ${machine.name} is ${before.status}${before.reason ? `: ${before.reason}` : ''}; nothing was packaged.`, {
      hint: before.repair ? `Run \`${before.repair}\`, then \`box package ${machine.name}\` again.` : `Run \`box up ${machine.name}\` first.`,
    });
  }
  return before;
}

/** metadata.json's `box_package`: which project and machine (and source box) the box came from. */
export function packageOrigin(ctx: MachineContext, box: MachineState['box']): Record<string, unknown> {
  return {project: ctx.project.name, machine: ctx.machine.name, ...(box ? {source_box: `${box.name} ${box.version}`} : {}), packaged_at: new Date().toISOString()};
}

/**
 * Runs a target's package steps to `s.packaged`. A failure or Ctrl-C removes a box already
 * written, and puts the machine back as it was (restoreMachine).
 */
export async function runPackageSteps<S extends PackageGuestState>(provider: Provider, ctx: MachineContext, steps: Array<Step<S>>, s: S): Promise<PackagedMachine> {
  try {
    await runSteps(steps, s, {ui: ctx.ui, signal: ctx.signal});
  } catch (error) {
    if (s.packaged) await rm(s.packaged.path, {force: true});
    await restoreMachine(provider, ctx, s);
    throw error;
  }
  return s.packaged!;
}

/** Makes the guest a base box again (package-guest.ts), logged in as `info` says. */
export type ResetGuest = (info: SshInfo, machine: string, timeoutSeconds: number, signal: AbortSignal) => Promise<void>;

export async function resetOverSsh(info: SshInfo, machine: string, timeoutSeconds: number, signal: AbortSignal): Promise<void> {
  const comm = await SshCommunicator.fromSshInfo(info, {keyName: `the machine key ${info.privateKeyPath}`});
  try {
    await comm.waitForReady(Math.max(30, timeoutSeconds) * 1000, signal);
    await resetGuestForPackaging(comm, machine, signal);
  } finally {
    await comm.close();
  }
}

/**
 * The steps of `box package` before a target writes its box (shared by the targets whose guest
 * box reaches over SSH): a halted machine is booted; the guest is made a base box again
 * (Vagrant's insecure key back, box's sshd drop-in gone, machine-id and host keys cleared); the
 * machine is halted for a consistent disk. The machine is recorded as needing its key swap
 * again BEFORE the guest changes (`provider.keyInserted`, which the qemu and virtualbox records
 * share), so its next `box up` replaces the insecure key as on a first boot.
 */
export function baseBoxSteps<S extends PackageGuestState>(provider: Provider, ctx: MachineContext, before: StatusReport, resetGuest: ResetGuest): Array<Step<S>> {
  const {project, machine, ui, signal} = ctx;
  const steps: Array<Step<S>> = [];
  if (before.status === 'stopped') {
    steps.push({
      name: 'boot',
      detail: () => `${machine.name} is halted: booting it to put Vagrant's insecure key back`,
      run: async (st) => {
        st.booted = true;
        await provider.up(ctx);
      },
    });
  }
  steps.push({
    name: 'reset-guest',
    detail: () => 'Vagrant\'s insecure key back, box\'s sshd drop-in removed, machine-id and SSH host keys cleared',
    run: async (st) => {
      const info = await provider.sshInfo(ctx);
      // Recorded first: from here on the guest may hold only the insecure key, and the next
      // `box up` must swap it (it also finishes a swap when the machine key still works).
      await updateMachineState(project.root, machine.name, (r) => { (r.provider as {keyInserted?: boolean}).keyInserted = false; });
      st.reset = true;
      await resetGuest(info, machine.name, machine.ssh.timeoutSeconds, signal);
    },
  });
  steps.push({
    name: 'halt',
    detail: () => `${machine.name}, for a consistent disk`,
    run: async (st) => {
      const how = await provider.halt(ctx, {force: false, timeoutSeconds: 120});
      st.halted = true;
      if (how === 'kill') ui.warn(`${machine.name} had to be killed; its disk is as a power cut left it.`);
    },
  });
  return steps;
}

/**
 * After a failed or interrupted package: a guest still running with the insecure key gets its
 * own key back (an `up` of a running machine whose key is pending does exactly that), and a
 * machine box booted for the package is halted again. With a fresh signal: the command's is
 * aborted after a Ctrl-C.
 */
export async function restoreMachine(provider: Provider, ctx: MachineContext, s: PackageGuestState): Promise<void> {
  const calm = {...ctx, signal: new AbortController().signal};
  try {
    if (s.reset && !s.halted && (await provider.status(calm)).status === 'running') {
      ctx.ui.info(`${ctx.machine.name}: putting its own key back.`);
      await provider.up(calm);
    }
    if (s.booted && !s.halted) await provider.halt(calm, {force: false, timeoutSeconds: 60});
  } catch (error) {
    ctx.ui.warn(`${ctx.machine.name} could not be put back as it was (${(error as Error).message}); \`box up ${ctx.machine.name}\` makes it ready again.`);
  }
}
