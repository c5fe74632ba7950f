import type {Communicator, SshInfo} from '../communicator.js';

/** The communicator for a machine, from what its provider reports (provider-agnostic). */
export async function createCommunicator(info: SshInfo): Promise<Communicator> {
  // ssh2 loads with the first connection, not with every command that might open one.
  const {SshCommunicator} = await import('./ssh-communicator.js');
  return SshCommunicator.fromSshInfo(info);
}
