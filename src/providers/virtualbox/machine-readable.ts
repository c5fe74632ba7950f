/**
 * Parsers for VBoxManage's output. `--machinereadable` prints one `key="value"` line per fact
 * (keys with spaces are quoted too, numbers may be bare, and `"`/`\` inside values are
 * backslash-escaped); `list vms` prints `"name" {uuid}`. Pure, so they are unit-tested.
 */

/** Reads one `"..."` string starting at `start` (the opening quote); returns it and the end index. */
function quoted(line: string, start: number): [string, number] {
  let out = '';
  let i = start + 1;
  while (i < line.length && line[i] !== '"') {
    if (line[i] === '\\' && i + 1 < line.length) i++;
    out += line[i];
    i++;
  }
  return [out, i + 1];
}

/** `key="value"` lines → a map (later duplicates win, as for a re-printed key). */
export function parseMachineReadable(text: string): Map<string, string> {
  const facts = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line.trim() === '') continue;
    let key: string;
    let rest: number;
    if (line.startsWith('"')) {
      [key, rest] = quoted(line, 0);
    } else {
      rest = line.indexOf('=');
      if (rest < 0) continue;
      key = line.slice(0, rest);
    }
    if (line[rest] !== '=') continue;
    const value = line[rest + 1] === '"' ? quoted(line, rest + 1)[0] : line.slice(rest + 1).trim();
    facts.set(key, value);
  }
  return facts;
}

/** A NAT port-forwarding rule as `showvminfo` prints it: `Forwarding(0)="ssh,tcp,127.0.0.1,2222,,22"`. */
export interface NatRule {
  name: string;
  protocol: 'tcp' | 'udp';
  hostIp: string;
  hostPort: number;
  guestIp: string;
  guestPort: number;
}

export function parseNatRule(value: string): NatRule | undefined {
  const parts = value.split(',');
  if (parts.length !== 6) return undefined;
  const [name, protocol, hostIp, hostPort, guestIp, guestPort] = parts;
  if (protocol !== 'tcp' && protocol !== 'udp') return undefined;
  return {name, protocol, hostIp, hostPort: Number(hostPort), guestIp, guestPort: Number(guestPort)};
}

/** The facts box uses from `showvminfo NAME --machinereadable`. */
export interface VmInfo {
  name: string;
  uuid: string;
  /** running, poweroff, aborted, saved, paused, starting, stopping, gurumeditation... */
  state: string;
  cpus?: number;
  memoryMiB?: number;
  /** NIC 1's NAT rules. */
  forwards: NatRule[];
  snapshots: string[];
  raw: Map<string, string>;
}

export function parseVmInfo(text: string): VmInfo {
  const raw = parseMachineReadable(text);
  const forwards: NatRule[] = [];
  const snapshots: string[] = [];
  for (const [key, value] of raw) {
    if (/^Forwarding\(\d+\)$/.test(key)) {
      const rule = parseNatRule(value);
      if (rule) forwards.push(rule);
    }
    if (/^SnapshotName(-[\d-]+)?$/.test(key)) snapshots.push(value);
  }
  const num = (k: string) => (raw.has(k) ? Number(raw.get(k)) : undefined);
  return {
    name: raw.get('name') ?? '',
    uuid: raw.get('UUID') ?? '',
    state: raw.get('VMState') ?? 'unknown',
    cpus: num('cpus'),
    memoryMiB: num('memory'),
    forwards,
    snapshots,
    raw,
  };
}

/** `list vms` → [{name, uuid}]. */
export function parseVmList(text: string): Array<{name: string; uuid: string}> {
  const vms: Array<{name: string; uuid: string}> = [];
  for (const line of text.split('\n')) {
    const m = /^"(.*)" \{([0-9a-f-]+)\}\s*$/i.exec(line.trim());
    if (m) vms.push({name: m[1], uuid: m[2]});
  }
  return vms;
}
