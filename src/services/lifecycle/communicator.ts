import type {Communicator} from '../../communicators/communicator.js';
import {SshCommunicator} from '../../communicators/ssh/ssh-communicator.js';
import type {SshInfo} from '../../providers/provider.js';

/** The communicator for a machine, from what its provider reports (provider-agnostic). */
export async function createCommunicator(info: SshInfo): Promise<Communicator> {
  return SshCommunicator.fromSshInfo(info);
}
