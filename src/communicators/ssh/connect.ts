import type {Communicator, SshInfo} from '../communicator.js';
import {SshCommunicator} from './ssh-communicator.js';

/** The communicator for a machine, from what its provider reports (provider-agnostic). */
export async function createCommunicator(info: SshInfo): Promise<Communicator> {
  return SshCommunicator.fromSshInfo(info);
}
