import {existsSync, readFileSync, readdirSync, readlinkSync, lstatSync} from 'node:fs';
import path from 'node:path';
import {setTimeout as sleep} from 'node:timers/promises';
import {
  DescribeAddressesCommand, DescribeImagesCommand, DescribeInstancesCommand, DescribeKeyPairsCommand, DescribeSecurityGroupsCommand,
  DescribeSnapshotsCommand, DescribeVolumesCommand, type EC2Client,
} from '@aws-sdk/client-ec2';

/**
 * The fault suite's one leak checker. After a fault and its follow-up (status, destroy, the
 * next run, sweep), nothing a case made may be left: no process, no file that was not there
 * before, no lock, no listening port, no cloud resource. Everything is found from the outside
 * (/proc, the file system, the EC2 API), never from box's own records.
 *
 * A case owns a few folders (`roots`: project, BOX_HOME, TMPDIR, output). A process is the
 * case's when its command line, environment or working folder names one of them: box passes
 * its environment (BOX_HOME, TMPDIR) to everything it starts, and QEMU's command line names the
 * machine folder.
 */
export interface LeakScope {
  roots: string[];
  /** Files under the roots before the case ran (from `snapshotFiles`): they may remain. */
  baseline?: Set<string>;
  /** Paths (absolute) that may appear, e.g. a box added on purpose. */
  allow?: RegExp[];
  /** Ports box used (ssh forwards, answer servers): none may still be listening for the case. */
  ports?: number[];
  /** The EC2 API and the resources that existed before the case (from `snapshotCloud`). */
  cloud?: {ec2: EC2Client; baseline: Set<string>; allow?: RegExp[]};
}

export interface Leak {
  kind: 'process' | 'file' | 'lock' | 'mount' | 'port' | 'index' | 'cloud';
  what: string;
}

function walk(dir: string, out: Set<string>): void {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return;
  }
  for (const entry of entries) {
    const full = path.join(dir, entry);
    out.add(full);
    let isDir = false;
    try {
      const info = lstatSync(full);
      isDir = info.isDirectory();
    } catch {
      continue;
    }
    if (isDir) walk(full, out);
  }
}

/** Every path under the roots (files and folders). */
export function snapshotFiles(roots: string[]): Set<string> {
  const out = new Set<string>();
  for (const root of roots) walk(root, out);
  return out;
}

function ancestors(): Set<number> {
  const out = new Set<number>();
  let pid = process.pid;
  while (pid > 1 && !out.has(pid)) {
    out.add(pid);
    try {
      pid = Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
    } catch {
      break;
    }
  }
  return out;
}

export interface CaseProcess {
  pid: number;
  cmdline: string;
}

/** Live (non-zombie) processes that belong to the case, i.e. mention one of its roots. */
export function caseProcesses(roots: string[]): CaseProcess[] {
  const skip = ancestors();
  const out: CaseProcess[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (skip.has(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\)\s*/s, '');
      if (stat.startsWith('Z') || stat.startsWith('X')) continue;
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
      if (!cmdline) continue; // kernel threads
      let environ = '';
      try {
        environ = readFileSync(`/proc/${pid}/environ`, 'utf8');
      } catch {
        // not ours to read
      }
      let cwd = '';
      try {
        cwd = readlinkSync(`/proc/${pid}/cwd`);
      } catch {
        // gone
      }
      const mine = roots.some((root) => cmdline.includes(root) || environ.includes(`=${root}`) || environ.includes(`${root}/`) || cwd === root || cwd.startsWith(`${root}/`));
      if (mine) out.push({pid, cmdline: cmdline.slice(0, 300)});
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** TCP ports in LISTEN state on this host, with the socket inode. */
export function listeningPorts(): Map<number, string> {
  const out = new Map<number, string>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 10 || cols[3] !== '0A') continue;
      out.set(parseInt(cols[1].split(':')[1], 16), cols[9]);
    }
  }
  return out;
}

/** The pid holding a socket inode, if any process does. */
function socketOwner(inode: string): number | undefined {
  const target = `socket:[${inode}]`;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${entry}/fd/${fd}`) === target) return Number(entry);
      } catch {
        // closed meanwhile
      }
    }
  }
  return undefined;
}

/** Every resource in the EC2 API that costs money or must be cleaned, as "type id" strings. */
export async function snapshotCloud(ec2: EC2Client): Promise<Set<string>> {
  const out = new Set<string>();
  const reservations = (await ec2.send(new DescribeInstancesCommand({Filters: [{Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped', 'shutting-down']}]}))).Reservations ?? [];
  for (const i of reservations.flatMap((r) => r.Instances ?? [])) out.add(`instance ${i.InstanceId} (${i.State?.Name})`);
  for (const k of (await ec2.send(new DescribeKeyPairsCommand({}))).KeyPairs ?? []) out.add(`key-pair ${k.KeyName}`);
  for (const g of (await ec2.send(new DescribeSecurityGroupsCommand({}))).SecurityGroups ?? []) if (g.GroupName !== 'default') out.add(`security-group ${g.GroupId} ${g.GroupName}`);
  for (const a of (await ec2.send(new DescribeAddressesCommand({}))).Addresses ?? []) out.add(`elastic-ip ${a.AllocationId}`);
  for (const img of (await ec2.send(new DescribeImagesCommand({Owners: ['self']}))).Images ?? []) out.add(`image ${img.ImageId} ${img.Name}`);
  for (const s of (await ec2.send(new DescribeSnapshotsCommand({OwnerIds: ['self']}))).Snapshots ?? []) out.add(`snapshot ${s.SnapshotId}`);
  for (const v of (await ec2.send(new DescribeVolumesCommand({}))).Volumes ?? []) if (v.State !== 'deleted') out.add(`volume ${v.VolumeId} (${v.State})`);
  return out;
}

/** Mount points inside the roots (a killed debootstrap leaves /proc and /sys mounted in its target). */
export function mountsUnder(roots: string[]): string[] {
  const text = readFileSync('/proc/self/mounts', 'utf8');
  return text.split('\n').map((line) => line.split(' ')[1]?.replace(/\\040/g, ' ')).filter((m): m is string => Boolean(m) && roots.some((r) => m.startsWith(`${r}/`)));
}

/** The machine index entries (BOX_HOME/machines.json) that point into the roots. */
function indexLeaks(roots: string[]): Leak[] {
  const out: Leak[] = [];
  for (const root of roots) {
    const file = path.join(root, 'machines.json');
    if (!existsSync(file)) continue;
    let entries: Array<{projectRoot?: string; machine?: string}> = [];
    try {
      entries = JSON.parse(readFileSync(file, 'utf8'));
    } catch {
      continue; // a case that corrupts the index on purpose checks it itself
    }
    if (!Array.isArray(entries)) continue;
    for (const e of entries) {
      if (typeof e?.projectRoot === 'string' && roots.some((r) => e.projectRoot === r || e.projectRoot!.startsWith(`${r}/`))) {
        out.push({kind: 'index', what: `${file} still lists ${e.projectRoot} machine ${e.machine}`});
      }
    }
  }
  return out;
}

/** Everything the case left, without waiting. */
export async function findLeaks(scope: LeakScope): Promise<Leak[]> {
  const leaks: Leak[] = [];
  const procs = caseProcesses(scope.roots);
  for (const p of procs) leaks.push({kind: 'process', what: `pid ${p.pid}: ${p.cmdline}`});
  const ours = new Set(procs.map((p) => p.pid));
  if (scope.baseline) {
    for (const file of snapshotFiles(scope.roots)) {
      if (scope.baseline.has(file)) continue;
      if (scope.allow?.some((re) => re.test(file))) continue;
      leaks.push({kind: /\.lock(\/|$)/.test(file) ? 'lock' : 'file', what: file});
    }
  }
  leaks.push(...indexLeaks(scope.roots));
  for (const mount of mountsUnder(scope.roots)) if (!scope.allow?.some((re) => re.test(mount))) leaks.push({kind: 'mount', what: mount});
  if (scope.ports?.length) {
    const listening = listeningPorts();
    for (const port of new Set(scope.ports)) {
      const inode = listening.get(port);
      if (inode === undefined) continue;
      const owner = socketOwner(inode);
      // A port reused meanwhile by an unrelated process on this shared machine is not a leak.
      if (owner === undefined || ours.has(owner)) leaks.push({kind: 'port', what: `127.0.0.1:${port} is still listening${owner ? ` (pid ${owner})` : ''}`});
    }
  }
  if (scope.cloud) {
    for (const r of await snapshotCloud(scope.cloud.ec2)) {
      if (scope.cloud.baseline.has(r) || scope.cloud.allow?.some((re) => re.test(r))) continue;
      leaks.push({kind: 'cloud', what: r});
    }
  }
  return leaks;
}

/**
 * Asserts that the case left nothing. Processes get `graceMs` to finish exiting (a QEMU told
 * to quit takes a moment). Leaked processes are killed afterwards, so one failing case does
 * not burden the next ones or the other users of this machine.
 */
export async function assertNoLeaks(scope: LeakScope, context = '', graceMs = 5000): Promise<void> {
  const deadline = Date.now() + graceMs;
  let leaks = await findLeaks(scope);
  while (leaks.some((l) => l.kind === 'process' || l.kind === 'port') && Date.now() < deadline) {
    await sleep(250);
    leaks = await findLeaks(scope);
  }
  killCaseProcesses(scope.roots);
  if (leaks.length > 0) {
    throw new Error(`${context ? `${context}: ` : ''}left behind:\n${leaks.map((l) => `  [${l.kind}] ${l.what}`).join('\n')}`);
  }
}

/** SIGKILLs every process of the case (cleanup after a failed case; never a broad pattern). */
export function killCaseProcesses(roots: string[]): number[] {
  const killed: number[] = [];
  for (const p of caseProcesses(roots)) {
    try {
      process.kill(p.pid, 'SIGKILL');
      killed.push(p.pid);
    } catch {
      // gone
    }
  }
  return killed;
}
