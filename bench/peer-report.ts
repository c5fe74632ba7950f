// The arithmetic and wording of `npm run bench -- --against vagrant` (bench/peer.bench.ts): which
// operations it times, their medians and ratios against the peer, the issue's targets, why the
// ratios are missing when the peer is not usable, and the table it prints. No I/O here, so
// test/bench/peer-report.test.ts checks it without booting anything.

export type Tool = 'box' | 'vagrant' | 'openssh' | 'node';

/** One operation of the table, as the issue (15) lists them, with its target where it sets one. */
export interface Operation {
  id: string;
  label: string;
  /** Timed this many times per pair (`runs`), or once per pair. */
  repeated: boolean;
  /** The tool box is compared with in this row (the peer, or plain OpenSSH for ssh -c). */
  against: 'peer' | 'openssh';
  /** box ÷ other must stay at or under this. */
  target?: number;
}

export const OPERATIONS: readonly Operation[] = [
  {id: 'version', label: '`--version`', repeated: true, against: 'peer'},
  {id: 'status-none', label: '`status`, no machine', repeated: true, against: 'peer', target: 0.15},
  {id: 'up-cold', label: 'cold `up` to SSH-ready', repeated: false, against: 'peer', target: 0.3},
  {id: 'status-running', label: '`status`, running machine', repeated: true, against: 'peer', target: 0.15},
  {id: 'ssh', label: '`ssh -c true`', repeated: true, against: 'peer'},
  // Issue 15 item 3: where the user wants speed, the next up is a resume. Both sides save the RAM
  // to disk (box: `halt --suspend`; Vagrant: `suspend` with libvirt's managedsave) and restore it.
  {id: 'suspend', label: '`halt --suspend` (Vagrant: `suspend`, managedsave)', repeated: false, against: 'peer'},
  {id: 'up-suspended', label: '`up` of the suspended machine (Vagrant: `resume`)', repeated: false, against: 'peer'},
  {id: 'halt', label: '`halt`', repeated: false, against: 'peer', target: 0.1},
  {id: 'up-halted', label: '`up` of a halted machine', repeated: false, against: 'peer', target: 0.2},
  {id: 'destroy', label: '`destroy`', repeated: false, against: 'peer'},
];

/** The second comparison of `ssh -c true`: box against plain OpenSSH with `box ssh-config`. */
export const SSH_VS_OPENSSH: Operation = {id: 'ssh', label: '`ssh -c true` vs `ssh -F <(box ssh-config) default true`', repeated: true, against: 'openssh', target: 1.1};

export interface Sample {
  op: string;
  tool: Tool;
  ms: number;
}

/** The median (mean of the middle two for an even count); undefined for no values. */
export function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export interface Row {
  op: string;
  label: string;
  /** Samples behind each median. */
  count: number;
  boxMs?: number;
  otherMs?: number;
  /** box ÷ other, 2 decimals; undefined when either side is missing. */
  ratio?: number;
  target?: number;
  /** Whether the ratio meets the target; undefined without a ratio or a target. */
  met?: boolean;
}

function row(operation: Operation, samples: readonly Sample[], other: Tool): Row {
  const of = (tool: Tool) => samples.filter((s) => s.op === operation.id && s.tool === tool).map((s) => s.ms);
  const boxMs = median(of('box'));
  const otherMs = median(of(other));
  const ratio = boxMs !== undefined && otherMs !== undefined && otherMs > 0 ? Math.round((boxMs / otherMs) * 100) / 100 : undefined;
  return {
    op: operation.id, label: operation.label, count: of('box').length, boxMs, otherMs, ratio, target: operation.target,
    met: ratio === undefined || operation.target === undefined ? undefined : ratio <= operation.target,
  };
}

/** The peer rows (box vs `peer`) and the OpenSSH row, from every sample of the run. */
export function summarize(samples: readonly Sample[], peer: Tool = 'vagrant'): {rows: Row[]; ssh: Row; versionOverNodeMs?: number} {
  const versionMs = median(samples.filter((s) => s.op === 'version' && s.tool === 'box').map((s) => s.ms));
  const nodeMs = median(samples.filter((s) => s.op === 'version' && s.tool === 'node').map((s) => s.ms));
  return {
    rows: OPERATIONS.map((op) => row(op, samples, peer)),
    ssh: row(SSH_VS_OPENSSH, samples, 'openssh'),
    versionOverNodeMs: versionMs !== undefined && nodeMs !== undefined ? Math.round(versionMs - nodeMs) : undefined,
  };
}

/** What the bench found out about the peer's tools (undefined: not looked at, because an earlier one is missing). */
export interface PeerProbe {
  /** `vagrant --version`'s output, or undefined when there is no vagrant on PATH. */
  vagrantVersion?: string;
  /** vagrant-libvirt appears in `vagrant plugin list`. */
  libvirtPlugin?: boolean;
  /** virsh (libvirt-clients) is on PATH. */
  virsh?: boolean;
  /** libvirtd answers on qemu:///system. */
  libvirtd?: boolean;
  /** libvirtd runs inside the network namespace the set-up script makes (guests' traffic stays there). */
  libvirtdInNetns?: boolean;
  netns: string;
}

const SETUP = 'scripts/setup-vagrant-libvirt.sh';

/** Why box cannot be compared with Vagrant here (naming the missing piece), or undefined when it can. */
export function peerMissingReason(probe: PeerProbe): string | undefined {
  if (probe.vagrantVersion === undefined) return `Vagrant is not installed (no \`vagrant\` on PATH); run ${SETUP} (as root) to install Vagrant, vagrant-libvirt and libvirt`;
  if (!/^Vagrant 2\./.test(probe.vagrantVersion)) return `\`vagrant --version\` says "${probe.vagrantVersion}", not Vagrant 2.x`;
  if (!probe.libvirtPlugin) return `the vagrant-libvirt plugin is not installed (\`vagrant plugin list\` does not list it); run ${SETUP}`;
  if (!probe.virsh) return `libvirt's client is not installed (no \`virsh\` on PATH); run ${SETUP}`;
  if (!probe.libvirtd) return `libvirtd does not answer on qemu:///system; start it with ${SETUP} start`;
  if (!probe.libvirtdInNetns) return `libvirtd does not run inside network namespace ${probe.netns}, so Vagrant's guests could reach the network beyond this machine; stop that libvirtd and run ${SETUP} start`;
  return undefined;
}

const seconds = (ms: number | undefined) => (ms === undefined ? '—' : `${(ms / 1000).toFixed(ms < 10_000 ? 3 : 1)} s`);

function cells(r: Row): string[] {
  const verdict = r.met === undefined ? '' : r.met ? ' (target ≤ ' + r.target + ': met)' : ' (target ≤ ' + r.target + ': missed)';
  return [`${r.label}${r.count > 1 ? ` (${r.count} runs)` : ''}`, seconds(r.boxMs), seconds(r.otherMs), r.ratio === undefined ? '—' : `**${r.ratio.toFixed(2)}**${verdict}`];
}

export interface ReportInput {
  samples: readonly Sample[];
  pairs: number;
  runs: number;
  loadBefore: readonly number[];
  loadAfter: readonly number[];
  /** Set when the peer was not run: the reason printed instead of its figures. */
  peerMissing?: string;
  peerVersion?: string;
}

/** The markdown the bench prints: the issue's table, the OpenSSH comparison, the load, and why ratios are missing if they are. */
export function formatReport(input: ReportInput): string {
  const {rows, ssh, versionOverNodeMs} = summarize(input.samples);
  const load = (l: readonly number[]) => l.map((x) => x.toFixed(2)).join(' ');
  const peerName = input.peerVersion ? `${input.peerVersion} + vagrant-libvirt` : 'vagrant';
  const lines = [
    `box vs ${input.peerMissing ? 'vagrant (not run)' : peerName}: ${input.pairs} pair(s), ${input.runs} runs per repeated operation and pair, medians.`,
    `Load average (1, 5, 15 min) before: ${load(input.loadBefore)}; after: ${load(input.loadAfter)}.`,
    '',
    '| operation | box median | vagrant median | ratio |',
    '|---|---|---|---|',
    ...rows.map((r) => `| ${cells(r).join(' | ')} |`),
    '',
    '| operation | box median | plain OpenSSH median | ratio |',
    '|---|---|---|---|',
    `| ${cells(ssh).join(' | ')} |`,
  ];
  if (versionOverNodeMs !== undefined) lines.push('', `\`box --version\` takes ${versionOverNodeMs} ms more than a bare \`node -e ''\` (target: within 60 ms on a quiet machine).`);
  if (input.peerMissing) lines.push('', `No ratios against Vagrant: ${input.peerMissing}.`);
  return lines.join('\n');
}
