import {formatPath, type BoxfileIssue, type IssuePath} from './issues.js';
import {originOf, type LayerOrigin} from './port-clashes.js';
import type {MachineConfig} from './project.js';
import {subnetOf} from './private-network.js';
import {locate} from './source.js';

/**
 * Private addresses that do not work once layers merge: two machines given the same `ip` (one
 * written at the top of the Boxfile is every machine's), or machines put in different /24s
 * (the network is one /24 segment: they could not reach each other). Reported at the later
 * machine's `ip`, where it is written.
 */
export function privateIpIssues(machines: readonly MachineConfig[], layersOf: (machine: string) => readonly LayerOrigin[]): BoxfileIssue[] {
  const issues = new Map<string, BoxfileIssue>();
  const holders = new Map<string, string>();
  let first: {machine: string; subnet: string} | undefined;
  for (const m of machines) {
    const ip = m.networks[0]?.ip;
    if (ip === undefined) continue;
    const origin = originOf(layersOf(m.name), ['networks']);
    if (!origin) continue;
    const segments: IssuePath = [...origin.segments, 'networks', 0, 'ip'];
    const report = (message: string): void => {
      const pos = locate(origin.source, segments);
      const issue = {file: origin.source.display, line: pos.line, column: pos.column, path: formatPath(segments), message, got: JSON.stringify(ip)};
      const key = `${issue.file}:${issue.line}:${issue.column}`;
      if (!issues.has(key)) issues.set(key, issue);
    };
    const holder = holders.get(ip);
    if (holder !== undefined) {
      report(origin.segments.length === 0 || origin.segments.at(-1) !== m.name
        ? `machines ${holder} and ${m.name} both take this address; give each machine its own ip under machines.<name>.networks`
        : `${ip} is already machine ${holder}'s private address`);
      continue;
    }
    holders.set(ip, m.name);
    if (first === undefined) first = {machine: m.name, subnet: subnetOf(ip)};
    else if (subnetOf(ip) !== first.subnet) report(`is not in ${first.subnet}.0/24, the private network of machine ${first.machine}: the project's machines share one /24`);
  }
  return [...issues.values()];
}
