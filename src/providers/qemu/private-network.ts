import {createHash} from 'node:crypto';
import type {MachineConfig, Project} from '../../boxfile/project.js';
import {planPrivateAddress} from '../shared/private-network.js';
import type {PrivateNic} from './args.js';

/** The machine's private NIC as planned before boot: the QEMU side plus its address. */
export interface PlannedNic extends PrivateNic {
  ip: string;
}

/**
 * The project's multicast segment: a group in 239.192.0.0/14 (organisation-local scope, never
 * routed off a site; here never off the loopback) and a UDP port, both from a hash of the
 * project folder, so two projects never share frames.
 */
export function multicastSegment(projectRoot: string): {group: string; port: number} {
  const d = createHash('sha256').update(`box-private-mcast\0${projectRoot}`).digest();
  return {group: `239.${192 + (d[0]! & 3)}.${d[1]}.${d[2]! === 0 ? 1 : d[2]}`, port: 20_000 + (d.readUInt16BE(3) % 20_000)};
}

/**
 * Before boot: the machine's address and MAC (shared/private-network.ts), recorded in its
 * state, and the project's segment. Undefined when the machine has no `networks`.
 */
export async function planPrivateNetwork(project: Project, machine: MachineConfig): Promise<PlannedNic | undefined> {
  const address = await planPrivateAddress(project, machine);
  return address && {...address, ...multicastSegment(project.root)};
}
