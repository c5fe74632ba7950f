import {createHash} from 'node:crypto';

/**
 * The project's VirtualBox internal network: `box-` and 16 hex digits of a hash of the project
 * folder (stable across ups, different per checkout, far below VirtualBox's 127-character limit
 * on network names). Every VM of the project attaches NIC 2 to it; VirtualBox switches frames
 * among them in the host's memory, and nothing else (host, other projects) is on it.
 */
export function internalNetworkName(projectRoot: string): string {
  return `box-${createHash('sha256').update(`box-private-intnet\0${projectRoot}`).digest('hex').slice(0, 16)}`;
}
