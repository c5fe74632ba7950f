import {readMachineState, updateMachineState} from '../../core/state.js';
import type {PortForward} from '../shared/ports.js';
import type {VboxCloneRecord} from './clone.js';

/** What the virtualbox provider records under `state.provider` (paths absolute). */
export interface VirtualboxMachineState {
  /** `creating` until the VM is imported or cloned and configured: a crash before leaves a half-created machine. */
  phase: 'creating' | 'created';
  /** Chosen and recorded BEFORE the import, so `destroy` finds a VM whose import was cut short. */
  vmName: string;
  /** VirtualBox's UUID of the VM, recorded once the import or clone returned. */
  uuid?: string;
  /** The appliance imported (full import) or whose master was cloned (linked clone). */
  ovf: string;
  linkedClone: boolean;
  /** The per-box-version master VM a linked clone shares its disk with (kept, as Vagrant does). */
  master?: string;
  sshPort?: number;
  forwardedPorts: PortForward[];
  /** Serial port 1 of the VM is written here (`--uartmode1 file`). */
  serialLog: string;
  keyInserted: boolean;
  startedAt?: string;
  /** cloud-init's instance-id in the NoCloud seed, chosen at the first boot with cloud-init data. */
  cloudInitInstanceId?: string;
  /** The NoCloud seed ISO attached as a DVD at the last boot (in the machine folder). */
  cloudInitSeed?: string;
  /** Set on a clone (`box up NEW --from MACHINE[@SNAPSHOT]`): its source, for its first login. */
  clone?: VboxCloneRecord;
  /** The snapshots `box snapshot save` took (VirtualBox keeps no date, nor whether one holds memory). */
  snapshots?: Array<{name: string; uuid: string; createdAt: string; withMemory: boolean}>;
}

export async function readVboxState(projectRoot: string, machine: string): Promise<VirtualboxMachineState | undefined> {
  const state = await readMachineState(projectRoot, machine);
  return state?.target === 'virtualbox' ? state.provider as unknown as VirtualboxMachineState : undefined;
}

export async function recordVbox(projectRoot: string, machine: string, change: (s: VirtualboxMachineState) => void): Promise<VirtualboxMachineState> {
  const state = await updateMachineState(projectRoot, machine, (s) => change(s.provider as unknown as VirtualboxMachineState));
  return state.provider as unknown as VirtualboxMachineState;
}
