// Preload for `box` processes in CLI tests against moto (loaded with NODE_OPTIONS, see
// fakeSshEnv in fake-ssh.ts): moto's instances have no SSH server, so the aws provider and the
// AMI bake reach "guests" through FakeCommunicator, which logs to <machine dir>/fake-ssh.log.
// It injects into the built CLI's own module (dist/), the one `box` loads.
import {setAwsCommunicatorFactory} from '../../dist/providers/aws/communicator-factory.js';
import {FakeCommunicator} from './fake-communicator.mjs';

setAwsCommunicatorFactory(async (info, dir) => new FakeCommunicator(dir, info));
