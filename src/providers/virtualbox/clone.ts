import {UsageError} from '../../core/errors.js';
import {LOCK_WAIT_MS, readMachineState, withMachineLock, type MachineState} from '../../core/state.js';
import type {CloneSource} from '../provider.js';
import {copySourceKey, unknownCloneSnapshot, type CloneOrigin} from '../shared/clone-guest.js';
import type {VirtualboxMachineState} from './machine-state.js';
import type {VBoxManage} from './vboxmanage.js';

/** What a virtualbox clone records under `state.provider.clone`. */
export interface VboxCloneRecord extends CloneOrigin {
  snapshot?: string;
}

/**
 * `VBoxManage clonevm` as a FULL clone (the source's current state, or one of its snapshots):
 * a linked clone would be a differencing disk on the source's snapshot, which VirtualBox then
 * refuses to delete with the source (`box destroy SOURCE` would fail while the clone lives).
 * New MAC addresses (VirtualBox's default), the VM's own name.
 */
export function cloneFromArgs(source: string, vmName: string, snapshot: string | undefined): string[] {
  return ['clonevm', source, ...(snapshot === undefined ? [] : ['--snapshot', snapshot]), '--name', vmName, '--register'];
}

/**
 * The source machine's record, checked before anything is made: a virtualbox machine whose VM
 * VirtualBox knows, holding the snapshot if one is named. Its key is copied for the clone's first login.
 */
export async function prepareVboxClone(vbox: VBoxManage, projectRoot: string, cloneDir: string, source: CloneSource, signal: AbortSignal): Promise<{state: MachineState; s: VirtualboxMachineState; clone: VboxCloneRecord}> {
  const state = await readMachineState(projectRoot, source.machine);
  if (!state || state.target !== 'virtualbox') throw new UsageError('ERR_CLONE_SOURCE', `Machine ${source.machine} is not a created virtualbox machine: there is no VM to clone.`, {hint: `Run \`box up ${source.machine}\` first.`});
  const s = state.provider as unknown as VirtualboxMachineState;
  const vm = await vbox.vmInfo(s.uuid ?? s.vmName, signal);
  if (!vm) throw new UsageError('ERR_CLONE_SOURCE', `VirtualBox has no VM ${s.vmName} for machine ${source.machine}.`, {hint: `Run \`box status ${source.machine}\`.`});
  if (source.snapshot !== undefined && !vm.snapshots.includes(source.snapshot)) {
    throw unknownCloneSnapshot(source.machine, source.snapshot, vm.snapshots);
  }
  const sourceKey = await copySourceKey(source.dir, cloneDir);
  return {state, s, clone: {of: source.machine, ...(source.snapshot === undefined ? {} : {snapshot: source.snapshot}), ...(sourceKey ? {sourceKey} : {})}};
}

/**
 * Clones the source's VM as `vmName`, under the source's lifecycle lock (its up, destroy or
 * snapshot waits): without a snapshot, the source is checked again there to be powered off, as
 * it may have started since `--from` was checked. A clone of a live snapshot comes with the
 * snapshot's saved memory (the source's running guest): the caller discards it, so the clone
 * boots from the snapshot's disk (as the qemu target's clones do).
 */
export async function cloneSourceVm(vbox: VBoxManage, projectRoot: string, source: CloneSource & {target: string}, vmName: string, signal: AbortSignal): Promise<void> {
  await withMachineLock(projectRoot, source.machine, {waitMs: LOCK_WAIT_MS, signal}, async () => {
    if (source.snapshot === undefined) {
      const vm = await vbox.vmInfo(source.target, signal);
      if (vm?.state !== 'poweroff' && vm?.state !== 'aborted') {
        throw new UsageError('ERR_CLONE_SOURCE_RUNNING', `Machine ${source.machine}'s VM is ${vm?.state ?? 'gone'}: its disk is not at rest, so it cannot be copied.`, {
          hint: `Run \`box halt ${source.machine}\` first, or clone one of its snapshots: --from ${source.machine}@SNAPSHOT.`,
        });
      }
    }
    await vbox.run(cloneFromArgs(source.target, vmName, source.snapshot), {signal, timeoutMs: 60 * 60_000, retryLocked: true});
  });
}
