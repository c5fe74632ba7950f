import {formatPath, getAt, type BoxfileIssue, type IssuePath} from './issues.js';
import type {MachineConfig} from './project.js';
import {boxfileTarget} from './schema.js';
import {locate, type SourceFile} from './source.js';

/** A forwarded host port as the clash check sees it. */
export interface HostPort {
  protocol: 'tcp' | 'udp';
  hostIp: string;
  host: number;
}

/** Forward number `index` of machine `machine`. */
export interface ForwardRef {
  machine: string;
  index: number;
}

/** `second` wants a host port that `first`, earlier in the list, already holds. */
export interface PortClash {
  first: ForwardRef;
  second: ForwardRef;
  port: HostPort;
}

const isWildcard = (ip: string): boolean => ip === '0.0.0.0' || ip === '::' || ip === '';

/**
 * Host ports claimed twice across machines (or twice by one machine), in one pass: the same
 * protocol and port on the same address, or on a wildcard address (0.0.0.0 and :: overlap
 * every address, so 0.0.0.0:8080 and 127.0.0.1:8080 clash). Each forward is reported once,
 * against the earliest forward it overlaps.
 */
export function findPortClashes(machines: ReadonlyArray<{machine: string; forwardedPorts: readonly HostPort[]}>): PortClash[] {
  type Seen = {ref: ForwardRef; order: number};
  const groups = new Map<string, {first?: Seen; wildcard?: Seen; byAddress: Map<string, Seen>}>();
  const clashes: PortClash[] = [];
  let order = 0;
  for (const {machine, forwardedPorts} of machines) {
    forwardedPorts.forEach((port, index) => {
      const ref = {machine, index};
      const key = `${port.protocol}/${port.host}`;
      let group = groups.get(key);
      if (!group) groups.set(key, group = {byAddress: new Map()});
      const sameAddress = group.byAddress.get(port.hostIp);
      const earlier = isWildcard(port.hostIp) ? group.first
        : [sameAddress, group.wildcard].filter((s): s is Seen => s !== undefined).sort((a, b) => a.order - b.order)[0];
      if (earlier) clashes.push({first: earlier.ref, second: ref, port});
      const seen = {ref, order: order++};
      group.first ??= seen;
      if (isWildcard(port.hostIp)) group.wildcard ??= seen;
      if (!sameAddress) group.byAddress.set(port.hostIp, seen);
    });
  }
  return clashes;
}

/** One layer of a machine's settings and where it is written (the Boxfile or the user config). */
export interface LayerOrigin {
  source: SourceFile;
  /** Path of the settings mapping in its file: [], ['machines', 'web'], ['environments', 'prod']... */
  segments: IssuePath;
  settings: Record<string, unknown>;
}

/** The layer whose value of `key` a machine ends up with: the highest one that sets it. */
export function originOf(layersHighestFirst: readonly LayerOrigin[], key: IssuePath): LayerOrigin | undefined {
  return layersHighestFirst.find((layer) => getAt(layer.settings, key) !== undefined);
}

/**
 * The clashes between machines of this host (of targets that forward host ports: qemu and
 * virtualbox; aws does not) as Boxfile issues, at the forward of the later machine where it is
 * written. Two forwards in one machine's list are reported by the list check (checks.ts) already.
 */
export function portClashIssues(machines: readonly MachineConfig[], layersOf: (machine: string) => readonly LayerOrigin[]): BoxfileIssue[] {
  const local = machines.filter((m) => boxfileTarget(m.target)?.forwardsHostPorts);
  const written = (ref: ForwardRef): {origin?: LayerOrigin; segments: IssuePath} => {
    const origin = originOf(layersOf(ref.machine), ['forwarded_ports']);
    return {origin, segments: [...origin?.segments ?? [], 'forwarded_ports', ref.index]};
  };
  const issues = new Map<string, BoxfileIssue>();
  for (const {first, second, port} of findPortClashes(local.map((m) => ({machine: m.name, forwardedPorts: m.forwardedPorts})))) {
    if (first.machine === second.machine) continue;
    const a = written(first);
    const b = written(second);
    if (!b.origin) continue;
    const what = `host port ${port.host}/${port.protocol} on ${port.hostIp}`;
    const sameEntry = a.origin?.source === b.origin.source && formatPath(a.segments) === formatPath(b.segments);
    const message = sameEntry
      ? `machines ${first.machine} and ${second.machine} both take this forward; ${what} can be forwarded by one machine only (give each machine its own forwarded_ports)`
      : `${what} is already forwarded by machine ${first.machine} (${a.origin && a.origin.source !== b.origin.source ? `${a.origin.source.display} ` : ''}${formatPath(a.segments)}); machines on one host need different host ports`;
    const segments = [...b.segments, 'host'];
    const pos = locate(b.origin.source, segments);
    const issue = {file: b.origin.source.display, line: pos.line, column: pos.column, path: formatPath(segments), message, got: String(port.host)};
    const key = `${issue.file}:${issue.line}:${issue.column}`;
    if (!issues.has(key)) issues.set(key, issue);
  }
  return [...issues.values()];
}
