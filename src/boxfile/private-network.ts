import {createHash} from 'node:crypto';
import {isIPv4} from 'node:net';

/**
 * The project's private network (`networks: [{type: private, ip: ...}]`): which addresses a
 * machine may have, the project's /24 subnet, and the addresses machines without an `ip` get.
 * Pure, so the Boxfile checks, the providers and the tests share one rule.
 */

/** QEMU's and VirtualBox's user-mode networking (the first NIC) use this /24: a second NIC there would break NAT. */
const USER_NET_PREFIX = '10.0.2.';
/** Host numbers auto-assigned addresses start at (.1-.9 are left to the user, as gateways often are). */
const FIRST_AUTO_HOST = 10;

function octets(ip: string): number[] {
  return ip.split('.').map(Number);
}

/** Why `ip` cannot be a machine's private address, or undefined when it can. */
export function privateIpProblem(ip: string): string | undefined {
  if (!isIPv4(ip)) return 'must be an IPv4 address such as 10.20.30.11';
  const [a, b, , d] = octets(ip) as [number, number, number, number];
  const isPrivate = a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168);
  if (!isPrivate) return 'must be in a private range (10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16): the private network never routes anywhere else';
  if (ip.startsWith(USER_NET_PREFIX)) return 'is in 10.0.2.0/24, the subnet of the NAT interface QEMU and VirtualBox give every machine; choose another subnet';
  if (d === 0 || d === 255) return 'is the network or broadcast address of its /24 (the private network is a /24): use .1 to .254';
  return undefined;
}

/** The first three octets ("10.20.30") of an address's /24. */
export function subnetOf(ip: string): string {
  return octets(ip).slice(0, 3).join('.');
}

/**
 * The project's /24: that of the first address written in the Boxfile, else one derived from
 * the project folder (10.X.Y.0/24, never QEMU's 10.0.2.0/24), so it is stable and two projects
 * rarely share one.
 */
export function projectSubnet(projectRoot: string, explicit: readonly string[]): string {
  if (explicit.length > 0) return subnetOf(explicit[0]!);
  const [x, y] = createHash('sha256').update(`box-private-subnet\0${projectRoot}`).digest();
  return x === 0 && y === 2 ? '10.0.3' : `10.${x}.${y}`;
}

export interface AddressRequest {
  name: string;
  /** The address the Boxfile gives the machine. */
  ip?: string;
  /** The address an earlier `up` recorded for it. */
  recorded?: string;
}

/**
 * Every machine's address: what the Boxfile says; else what an earlier up recorded (while it is
 * still in the project subnet and nobody else's); else the lowest free host number from .10, in
 * Boxfile order. Deterministic for a given Boxfile and record. Throws when the /24 is full.
 */
export function assignPrivateAddresses(projectRoot: string, machines: readonly AddressRequest[]): Map<string, string> {
  const explicit = machines.flatMap((m) => (m.ip ? [m.ip] : []));
  const subnet = projectSubnet(projectRoot, explicit);
  const taken = new Set(explicit);
  const out = new Map<string, string>();
  for (const m of machines) if (m.ip) out.set(m.name, m.ip);
  for (const m of machines) {
    if (m.ip || !m.recorded || subnetOf(m.recorded) !== subnet || taken.has(m.recorded) || privateIpProblem(m.recorded)) continue;
    out.set(m.name, m.recorded);
    taken.add(m.recorded);
  }
  let host = FIRST_AUTO_HOST;
  for (const m of machines) {
    if (out.has(m.name)) continue;
    while (taken.has(`${subnet}.${host}`)) host++;
    if (host > 254) throw new Error(`the private network ${subnet}.0/24 has no free address left for machine ${m.name}`);
    out.set(m.name, `${subnet}.${host}`);
    taken.add(`${subnet}.${host}`);
  }
  return out;
}

/** A stable MAC for the machine's private NIC, in QEMU's locally administered 52:54:00 block. */
export function privateMac(projectRoot: string, machine: string): string {
  const digest = createHash('sha256').update(`box-private-mac\0${projectRoot}\0${machine}`).digest();
  return ['52', '54', '00', ...[...digest.subarray(0, 3)].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}
