import dgram from 'node:dgram';
import net from 'node:net';
import {findPortClashes} from '../../boxfile/port-clashes.js';
import {UsageError} from '../../core/errors.js';

/** A host port forwarded to a guest port (QEMU hostfwd, VirtualBox NAT rule). */
export interface PortForward {
  protocol: 'tcp' | 'udp';
  hostIp: string;
  host: number;
  guest: number;
}

/** A free TCP port on 127.0.0.1, picked by the kernel. */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const {port} = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Can we bind this port now? (The same check QEMU's hostfwd will make, before QEMU starts.) */
export async function portIsFree(protocol: 'tcp' | 'udp', hostIp: string, port: number): Promise<boolean> {
  if (protocol === 'udp') {
    return new Promise((resolve) => {
      const socket = dgram.createSocket(net.isIPv6(hostIp) ? 'udp6' : 'udp4');
      socket.once('error', () => { socket.close(); resolve(false); });
      socket.bind(port, hostIp, () => socket.close(() => resolve(true)));
    });
  }
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen({port, host: hostIp, exclusive: true}, () => server.close(() => resolve(true)));
  });
}

export interface MachinePorts {
  machine: string;
  forwardedPorts: PortForward[];
}

/**
 * Host ports claimed twice across the project's machines (or twice in one machine), as
 * messages. The same check `box validate` runs (boxfile/port-clashes.ts).
 */
export function findDuplicateForwards(machines: MachinePorts[]): string[] {
  return findPortClashes(machines).map(({first, second, port}) => `host port ${port.protocol}/${port.hostIp}:${port.host} is forwarded by machine "${first.machine}" and by machine "${second.machine}"`);
}

/**
 * Checks a machine's forwards before boot: no duplicates in the project, each host port free.
 * Throws a UsageError listing every problem, naming the Boxfile field.
 */
export async function checkForwardedPorts(boxfile: string, machine: MachinePorts, others: MachinePorts[]): Promise<void> {
  const problems = findDuplicateForwards([...others, machine]).filter((p) => p.includes(`machine "${machine.machine}"`));
  for (const p of machine.forwardedPorts) {
    if (p.host < 1024 && process.getuid?.() !== 0) problems.push(`host port ${p.host} (guest ${p.guest}) is below 1024 and needs root`);
    else if (!(await portIsFree(p.protocol, p.hostIp, p.host))) {
      problems.push(`host port ${p.protocol}/${p.hostIp}:${p.host} (guest ${p.guest}) is already in use on this host`);
    }
  }
  if (problems.length > 0) {
    throw new UsageError('ERR_PORT_COLLISION', `${boxfile}: forwarded_ports of machine "${machine.machine}": ${problems.join('; ')}.`, {
      hint: 'Pick another `host` port in forwarded_ports (find who holds it with `ss -ltnup`), or stop what uses it.',
      details: {problems},
    });
  }
}
