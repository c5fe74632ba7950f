import type {StatusReport} from '../provider.js';
import type {VmInfo} from './machine-readable.js';
import type {VirtualboxMachineState} from './machine-state.js';

/** VirtualBox VMStates that mean "not running, same disk, `box up` boots it again". */
export const STOPPED_STATES = new Set(['poweroff', 'aborted', 'saved']);

/**
 * What is recorded vs what VirtualBox says (pure: unit-tested with made-up `showvminfo` facts).
 * Every broken case names the command that repairs it.
 */
export function reconcileVbox(name: string, s: VirtualboxMachineState | undefined, vm: VmInfo | undefined): StatusReport {
  if (!s) return {status: 'not-created'};
  const repair = `box destroy ${name}`;
  const details: Record<string, unknown> = {vmName: s.vmName, uuid: s.uuid ?? vm?.uuid, sshPort: s.sshPort, serialLog: s.serialLog, linkedClone: s.linkedClone, ...(s.master ? {master: s.master} : {})};
  if (!vm) {
    return s.phase === 'creating'
      ? {status: 'broken', reason: `${name} was only half created (box was interrupted before VirtualBox had its VM ${s.vmName})`, repair, details}
      : {status: 'broken', reason: `VirtualBox has no VM ${s.vmName} any more (removed outside box)`, repair, details};
  }
  details.vmState = vm.state;
  if (s.phase === 'creating') return {status: 'broken', reason: `${name} was only half created (its VM is ${vm.state})`, repair, details};
  if (vm.state === 'running') return {status: 'running', details};
  // `controlvm savestate` (box suspend): `box up` restores it, `halt --force` discards it.
  if (vm.state === 'saved') return {status: 'suspended', details};
  if (STOPPED_STATES.has(vm.state)) return {status: 'stopped', details};
  if (vm.state === 'paused') return {status: 'broken', reason: `the VM ${s.vmName} is paused`, repair: `box reload ${name}`, details};
  // starting, stopping, saving, restoring, gurumeditation, stuck...
  return {status: 'broken', reason: `VirtualBox reports the VM ${s.vmName} as "${vm.state}"`, repair: `box halt --force ${name}`, details};
}
