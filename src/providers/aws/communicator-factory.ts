import type {Communicator} from '../../communicators/communicator.js';
import {createCommunicator} from '../../communicators/ssh/connect.js';
import type {SshInfo} from '../provider.js';
import {FakeCommunicator} from './fake-communicator.js';

export type AwsCommunicatorFactory = (info: SshInfo, machineDir: string) => Promise<Communicator>;

let override: AwsCommunicatorFactory | undefined;

/**
 * Tests replace how the aws provider reaches a guest (instances of the moto emulator have no
 * SSH server). In-process tests call this; CLI-level tests set BOX_TEST_FAKE_SSH=1 instead.
 * Pass undefined to restore the real SSH communicator.
 */
export function setAwsCommunicatorFactory(factory: AwsCommunicatorFactory | undefined): void {
  override = factory;
}

export async function awsCommunicator(info: SshInfo, machineDir: string): Promise<Communicator> {
  if (override) return override(info, machineDir);
  // TEST HOOK (the only place BOX_TEST_FAKE_SSH is read): a communicator that answers at once and
  // appends every command to <machineDir>/fake-ssh.log, so CLI tests against moto can run the
  // lifecycle end to end. Never set it for real machines: nothing would reach the guest.
  if (process.env.BOX_TEST_FAKE_SSH === '1') return new FakeCommunicator(machineDir, info);
  return createCommunicator(info);
}
