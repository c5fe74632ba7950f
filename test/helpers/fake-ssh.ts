import path from 'node:path';
import {repoRoot} from './cli.js';
import {preloadEnv} from './preload.js';

export {FakeCommunicator} from './fake-communicator.mjs';

export const fakeSshPreload = path.join(repoRoot, 'test', 'helpers', 'fake-ssh-preload.mjs');

/**
 * Environment for a `box` process whose aws machines answer through FakeCommunicator (moto
 * instances have no SSH server): NODE_OPTIONS loads fake-ssh-preload.mjs, after `base`.
 */
export function fakeSshEnv(base = process.env.NODE_OPTIONS): {NODE_OPTIONS: string} {
  return preloadEnv(fakeSshPreload, base);
}
