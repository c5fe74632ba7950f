import {BoxError} from '../../core/errors.js';
import type {MachineContext, Provider, SnapshotInfo, SnapshotSupport} from '../provider.js';
import {readVboxState, recordVbox, type VirtualboxMachineState} from './machine-state.js';
import {STOPPED_STATES} from './reconcile.js';
import type {VBoxManage} from './vboxmanage.js';

/**
 * The virtualbox target's snapshots: `VBoxManage snapshot VM take|restore|delete` (Vagrant's
 * VirtualBox driver does the same). A snapshot of a running VM is taken `--live` and holds its
 * memory; restoring one puts the VM in the "saved" state, from which `box up` resumes it.
 * VirtualBox cannot restore into a running VM: the VM is powered off first (its state is being
 * thrown away), and started again when it ran before or the snapshot holds memory. VirtualBox
 * keeps no date, nor whether a snapshot holds memory: box records both for the ones it takes.
 */
export function virtualboxSnapshots(provider: Provider, vbox: VBoxManage): SnapshotSupport {
  return {
    async list(ctx) {
      const {s, vm} = await machine(ctx, vbox);
      const recorded = new Map((s.snapshots ?? []).map((r) => [r.uuid, r]));
      const found: SnapshotInfo[] = [];
      for (const [key, name] of vm.raw) {
        const suffix = /^SnapshotName(-[\d-]+)?$/.exec(key)?.[1];
        if (suffix === undefined && key !== 'SnapshotName') continue;
        const uuid = vm.raw.get(`SnapshotUUID${suffix ?? ''}`) ?? '';
        const r = recorded.get(uuid);
        found.push({name, ...(r ? {createdAt: r.createdAt} : {}), withMemory: r?.withMemory ?? false, details: {uuid}});
      }
      return found;
    },

    async save(ctx, name) {
      const {target, vm} = await machine(ctx, vbox);
      const live = vm.state === 'running';
      const out = await vbox.run(['snapshot', target, 'take', name, ...(live ? ['--live'] : [])], {timeoutMs: 30 * 60_000});
      const uuid = /UUID: ([0-9a-f-]{36})/i.exec(out)?.[1];
      if (!uuid) throw new BoxError('ERR_VBOXMANAGE', `VBoxManage snapshot take ${name} did not say the new snapshot's UUID (it said: ${out.trim().split('\n').at(-1)}).`);
      const taken = {name, uuid, createdAt: new Date().toISOString(), withMemory: live};
      await recordVbox(ctx.project.root, ctx.machine.name, (st) => { st.snapshots = [...(st.snapshots ?? []).filter((x) => x.uuid !== uuid), taken]; });
      return {name, createdAt: taken.createdAt, withMemory: live, details: {uuid}};
    },

    async restore(ctx, snapshot) {
      const {target, vm} = await machine(ctx, vbox);
      const wasRunning = !STOPPED_STATES.has(vm.state);
      if (wasRunning) await provider.halt(ctx, {force: true, timeoutSeconds: 1});
      await vbox.run(['snapshot', target, 'restore', uuidOf(snapshot)], {timeoutMs: 30 * 60_000, retryLocked: true});
      if (!wasRunning) {
        return snapshot.withMemory ? {live: false, note: 'the VM is in the saved state of the snapshot; `box up` resumes it'} : {live: false};
      }
      await provider.up(ctx);
      return snapshot.withMemory ? {live: true} : {live: false, note: 'powered off, restored, booted again (the snapshot holds no memory)'};
    },

    async delete(ctx, snapshot) {
      const {target} = await machine(ctx, vbox);
      await vbox.run(['snapshot', target, 'delete', uuidOf(snapshot)], {timeoutMs: 30 * 60_000, retryLocked: true});
      const uuid = uuidOf(snapshot);
      await recordVbox(ctx.project.root, ctx.machine.name, (st) => { st.snapshots = (st.snapshots ?? []).filter((x) => x.uuid !== uuid); });
    },
  };
}

function uuidOf(snapshot: SnapshotInfo): string {
  return String(snapshot.details?.uuid ?? snapshot.name);
}

async function machine(ctx: MachineContext, vbox: VBoxManage) {
  const s: VirtualboxMachineState | undefined = await readVboxState(ctx.project.root, ctx.machine.name);
  if (!s) throw new BoxError('ERR_NOT_CREATED', `Machine ${ctx.machine.name} is not created.`, {hint: `Run \`box up ${ctx.machine.name}\`.`});
  const target = s.uuid ?? s.vmName;
  const vm = await vbox.vmInfo(target);
  if (!vm) throw new BoxError('ERR_MACHINE_BROKEN', `VirtualBox knows no VM ${s.vmName} for machine ${ctx.machine.name}.`, {hint: `Run \`box destroy ${ctx.machine.name}\`.`});
  if (vm.state !== 'running' && !STOPPED_STATES.has(vm.state)) {
    throw new BoxError('ERR_NOT_SNAPSHOTTABLE', `Machine ${ctx.machine.name}'s VM is "${vm.state}"; box takes snapshots of running or halted machines only.`, {hint: `Run \`box halt --force ${ctx.machine.name}\` first.`});
  }
  return {s, target, vm};
}
