import type {Communicator, SshInfo} from '../../communicators/communicator.js';
import {createCommunicator} from '../../communicators/ssh/connect.js';

export type AwsCommunicatorFactory = (info: SshInfo, machineDir: string) => Promise<Communicator>;

let override: AwsCommunicatorFactory | undefined;

/**
 * Replaces how the aws provider and the AMI bake reach a guest (SSH to its address otherwise).
 * The test harness injects its fake here (moto's instances have no SSH server): in-process
 * tests call it directly, CLI tests through a preload (test/helpers/fake-ssh-preload.mjs).
 * Pass undefined to restore the real SSH communicator.
 */
export function setAwsCommunicatorFactory(factory: AwsCommunicatorFactory | undefined): void {
  override = factory;
}

export async function awsCommunicator(info: SshInfo, machineDir: string): Promise<Communicator> {
  return override ? override(info, machineDir) : createCommunicator(info);
}
