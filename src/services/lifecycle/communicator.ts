import type {Communicator} from '../../communicators/communicator.js';
import {SshCommunicator} from '../../communicators/ssh/ssh-communicator.js';
import type {SshInfo} from '../../providers/provider.js';
import type {MachineHandle} from './machines.js';

/** The communicator for a machine, from what its provider reports (provider-agnostic). */
export async function createCommunicator(info: SshInfo): Promise<Communicator> {
  return SshCommunicator.fromSshInfo(info);
}

/** How box reaches a machine's guest: the provider's own way when it has one, else SSH to its sshInfo. */
export async function openCommunicator(handle: MachineHandle): Promise<Communicator> {
  const info = await handle.provider.sshInfo(handle.ctx);
  return handle.provider.communicator ? handle.provider.communicator(handle.ctx, info) : createCommunicator(info);
}
