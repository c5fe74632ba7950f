/**
 * box against Vagrant 2.3.4 + vagrant-libvirt (issue 15's table): `npm run bench -- --against
 * vagrant` (scripts/bench.mjs runs this file only with that flag: it takes ~10 min a pair).
 *
 * Both run the same box (the cached debian-12-minimal test box; Vagrant gets it with `vagrant
 * box add`), with the same CPUs and memory, under TCG, booting the same kernel directly (the
 * box's metadata names it; box does that, vagrant-libvirt is told to). Runs are interleaved: box's
 * whole sequence, then Vagrant's, BENCH_PAIRS times (default 3), so one guest runs at a time
 * and a host whose speed drifts weighs on both. Repeated operations run BENCH_RUNS times (10)
 * a pair. `box ssh -c true` is also timed against plain OpenSSH with `box ssh-config`.
 *
 * Vagrant runs inside the network namespace of scripts/setup-vagrant-libvirt.sh (libvirtd and
 * its guests live there, with no way out of this machine). When Vagrant, its plugin or that
 * libvirtd is missing, box's own figures are printed with the reason the ratios are missing.
 * Prints the table on stderr and one JSON object on stdout. Takes the machine-wide e2e slot.
 */
import {execFileSync} from 'node:child_process';
import {existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {execa} from 'execa';
import {takeE2eSlot} from '../test/helpers/e2e-slot.js';
import {addTestBox, ensureTestBox, testBoxCacheRoot} from '../test/helpers/test-box.js';
import {formatReport, peerMissingReason, summarize, type PeerProbe, type Sample, type Tool} from './peer-report.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = path.join(repo, 'bin', 'run.js');
const pairs = Number(process.env.BENCH_PAIRS ?? 3);
const runs = Number(process.env.BENCH_RUNS ?? 10);
const cpus = Number(process.env.BENCH_CPUS ?? 2);
const memory = Number(process.env.BENCH_MEMORY ?? 1024);
const netns = process.env.BOX_PEER_NETNS ?? 'box-peer';
const against = process.env.BENCH_AGAINST ?? 'vagrant';
const log = (m: string) => process.stderr.write(`[peer bench] ${m}\n`);

/** Runs a command to completion; throws with its output's tail when it fails. */
async function run(file: string, args: string[], options: {cwd?: string; env?: Record<string, string>} = {}): Promise<string> {
  const r = await execa(file, args, {cwd: options.cwd, env: {NO_COLOR: '1', ...options.env}, stdin: 'ignore', reject: false, all: true});
  if (r.exitCode !== 0) throw new Error(`${file} ${args.join(' ')} failed (exit ${r.exitCode}):\n${String(r.all).slice(-3000)}`);
  return String(r.stdout);
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return Math.round(performance.now() - t0);
}

function quiet(file: string, args: string[]): string | undefined {
  try {
    return execFileSync(file, args, {encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], env: {...process.env, VAGRANT_CHECKPOINT_DISABLE: '1'}}).trim();
  } catch {
    return undefined;
  }
}

/** Whether `pid` runs in network namespace `name` (same namespace inode). */
function inNetns(pid: string, name: string): boolean {
  try {
    return statSync(`/proc/${pid}/ns/net`).ino === statSync(`/run/netns/${name}`).ino;
  } catch {
    return false;
  }
}

function probeVagrant(): PeerProbe {
  const probe: PeerProbe = {netns};
  probe.vagrantVersion = quiet('vagrant', ['--version']);
  if (probe.vagrantVersion === undefined) return probe;
  probe.libvirtPlugin = /^vagrant-libvirt\b/m.test(quiet('vagrant', ['plugin', 'list']) ?? '');
  probe.virsh = quiet('virsh', ['--version']) !== undefined;
  if (!probe.virsh) return probe;
  probe.libvirtd = quiet('virsh', ['-c', 'qemu:///system', 'version']) !== undefined;
  const pid = existsSync('/run/libvirtd.pid') ? readFileSync('/run/libvirtd.pid', 'utf8').trim() : '';
  probe.libvirtdInNetns = pid !== '' && inNetns(pid, netns);
  return probe;
}

/** One tool's side: how to run each operation. */
interface Side {
  tool: Tool;
  cli(args: string[]): Promise<string>;
  version: string[];
  status: string[];
  up: string[];
  ssh: string[];
  halt: string[];
  suspend: string[];
  resume: string[];
  destroy: string[];
}

function boxSide(project: string, home: string): Side {
  return {
    tool: 'box',
    cli: (args) => run(process.execPath, [bin, ...args], {cwd: project, env: {BOX_HOME: home}}),
    version: ['--version'], status: ['status'], up: ['up', '--no-provision'], ssh: ['ssh', '-c', 'true'], halt: ['halt'],
    suspend: ['halt', '--suspend'], resume: ['up', '--no-provision'], destroy: ['destroy', '--force'],
  };
}

function vagrantSide(project: string, vagrantHome: string): Side {
  // Every vagrant command runs in the namespace (`ip netns exec` costs a few ms) so that its
  // guests' addresses are reachable; no update checks (they would try the internet).
  return {
    tool: 'vagrant',
    cli: (args) => run('ip', ['netns', 'exec', netns, 'vagrant', ...args], {cwd: project, env: {VAGRANT_HOME: vagrantHome, VAGRANT_CHECKPOINT_DISABLE: '1', VAGRANT_BOX_UPDATE_CHECK_DISABLE: '1', PATH: process.env.PATH ?? ''}}),
    version: ['--version'], status: ['status'], up: ['up', '--provider', 'libvirt', '--no-provision'], ssh: ['ssh', '-c', 'true'], halt: ['halt'],
    suspend: ['suspend'], resume: ['resume'], destroy: ['destroy', '--force'],
  };
}

/** Box's whole sequence for one pair; `extra` runs next to the repeated ops (node, plain OpenSSH). */
async function sequence(side: Side, samples: Sample[], extra: {version?: () => Promise<number>; ssh?: () => Promise<number>} = {}): Promise<void> {
  const add = (op: string, ms: number, tool: Tool = side.tool) => samples.push({op, tool, ms});
  for (let i = 0; i < runs; i++) {
    add('version', await timed(() => side.cli(side.version)));
    if (extra.version) add('version', await extra.version(), 'node');
  }
  for (let i = 0; i < runs; i++) add('status-none', await timed(() => side.cli(side.status)));
  log(`${side.tool}: cold up`);
  add('up-cold', await timed(() => side.cli(side.up)));
  for (let i = 0; i < runs; i++) add('status-running', await timed(() => side.cli(side.status)));
  for (let i = 0; i < runs; i++) {
    add('ssh', await timed(() => side.cli(side.ssh)));
    if (extra.ssh) add('ssh', await extra.ssh(), 'openssh');
  }
  log(`${side.tool}: suspend, up of the suspended machine`);
  add('suspend', await timed(() => side.cli(side.suspend)));
  add('up-suspended', await timed(() => side.cli(side.resume)));
  log(`${side.tool}: halt, up of the halted machine, destroy`);
  add('halt', await timed(() => side.cli(side.halt)));
  add('up-halted', await timed(() => side.cli(side.up)));
  add('destroy', await timed(() => side.cli(side.destroy)));
}

/**
 * Vagrant's copy of the test box, in a VAGRANT_HOME kept next to the test box cache and named
 * after the test box's key (a rebuilt box is a new name). A box Vagrant never started has no
 * image in libvirt's pool yet: the first `vagrant up` would upload it, so one untimed up/destroy
 * does that before the pairs.
 */
async function prepareVagrant(boxPath: string, project: string): Promise<{vagrantHome: string}> {
  const vagrantHome = path.join(testBoxCacheRoot(), 'vagrant-home');
  const name = `box-bench-${path.basename(path.dirname(boxPath))}`;
  const env = {VAGRANT_HOME: vagrantHome, VAGRANT_CHECKPOINT_DISABLE: '1', PATH: process.env.PATH ?? ''};
  const boxes = await run('vagrant', ['box', 'list'], {env});
  if (!boxes.split('\n').some((l) => l.startsWith(`${name} `))) {
    log(`vagrant box add ${name} (the test box, ${boxPath})`);
    await run('vagrant', ['box', 'add', '--name', name, boxPath], {env});
  }
  const boxDir = path.join(vagrantHome, 'boxes', name, '0', 'libvirt');
  const meta = JSON.parse(readFileSync(path.join(boxDir, 'metadata.json'), 'utf8')) as {kernel?: string; initrd?: string; cmdline?: string};
  const kernel = meta.kernel
    ? [`    l.kernel = ${JSON.stringify(path.join(boxDir, meta.kernel))}`,
      ...(meta.initrd ? [`    l.initrd = ${JSON.stringify(path.join(boxDir, meta.initrd))}`] : []),
      `    l.cmd_line = ${JSON.stringify(meta.cmdline ?? '')}`]
    : [];
  writeFileSync(path.join(project, 'Vagrantfile'), [
    'Vagrant.configure("2") do |config|',
    `  config.vm.box = ${JSON.stringify(name)}`,
    '  config.vm.box_check_update = false',
    '  config.vm.synced_folder ".", "/vagrant", disabled: true',
    '  config.vm.provider :libvirt do |l|',
    '    l.driver = "qemu"', // TCG, as box runs here (KVM is unusable on this machine)
    `    l.cpus = ${cpus}`,
    `    l.memory = ${memory}`,
    '    l.cpu_mode = "maximum"',
    // A VGA adapter and a VNC server on loopback that nobody connects to: box's QEMU has the
    // same adapter (-display none keeps the device). Not `graphics_type none`: vagrant-libvirt
    // 0.11.2 then sees a changed definition at every start and redefines the domain, which
    // took 52 s here (libvirtd probes QEMU again at every define); `up` of a halted machine
    // fell from 84 s to 30 s without it. vram as libvirt stores it, for the same reason.
    '    l.graphics_type = "vnc"',
    '    l.graphics_ip = "127.0.0.1"',
    '    l.video_type = "vga"',
    '    l.video_vram = 16384',
    '    l.random :model => "random"',
    '    l.suspend_mode = "managedsave"', // RAM saved to disk, as box's halt --suspend does (the default only pauses)
    ...kernel,
    '  end',
    'end',
    '',
  ].join('\n'));
  const volumes = quiet('virsh', ['-c', 'qemu:///system', 'vol-list', 'default']) ?? '';
  if (!volumes.includes(`${name}_vagrant_box_image_`)) {
    log('first vagrant up of this box: uploading it into libvirt\'s pool (not timed)');
    const side = vagrantSide(project, vagrantHome);
    await side.cli(side.up);
    await side.cli(side.destroy);
  }
  return {vagrantHome};
}

if (against !== 'vagrant') {
  console.error(`--against ${against}: only vagrant is supported`);
  process.exit(2);
}

// Probed before taking the e2e slot: execFileSync blocks the event loop, which refreshes the slot's lock.
const probe = probeVagrant();
const peerMissing = peerMissingReason(probe);
const release = await takeE2eSlot();
const work = mkdtempSync(path.join(os.tmpdir(), 'box-bench-peer-'));
const home = path.join(work, 'home');
const boxProject = path.join(work, 'box');
const vagrantProject = path.join(work, 'vagrant');
mkdirSync(boxProject, {recursive: true});
mkdirSync(vagrantProject, {recursive: true});
let box: Side | undefined;
let vagrant: Side | undefined;
try {
  const loadBefore = os.loadavg();
  log(peerMissing ? `no comparison: ${peerMissing}` : `peer: ${probe.vagrantVersion} + vagrant-libvirt, libvirtd in netns ${netns}`);
  log('ensuring the test box (builds it the first time)');
  const testBox = await ensureTestBox();
  await addTestBox(home, testBox);
  writeFileSync(path.join(boxProject, 'Boxfile'), `basebox: debian-12-minimal\ntarget: qemu\ntargets:\n  qemu: {cpus: ${cpus}, memory: ${memory}}\n`);
  box = boxSide(boxProject, home);
  if (!peerMissing) vagrant = vagrantSide(vagrantProject, (await prepareVagrant(testBox.boxPath, vagrantProject)).vagrantHome);

  const sshConfig = path.join(work, 'ssh_config');
  const samples: Sample[] = [];
  for (let pair = 1; pair <= pairs; pair++) {
    log(`pair ${pair}/${pairs}: box (load ${os.loadavg()[0].toFixed(2)})`);
    await sequence(box, samples, {
      version: () => timed(() => run(process.execPath, ['-e', ''])),
      ssh: async () => {
        if (!existsSync(sshConfig)) writeFileSync(sshConfig, await box!.cli(['ssh-config']));
        return timed(() => run('ssh', ['-F', sshConfig, 'default', 'true']));
      },
    });
    rmSync(sshConfig, {force: true}); // the next up may pick another port
    if (vagrant) {
      log(`pair ${pair}/${pairs}: vagrant (load ${os.loadavg()[0].toFixed(2)})`);
      await sequence(vagrant, samples);
    }
  }
  const loadAfter = os.loadavg();
  const report = formatReport({samples, pairs, runs, loadBefore, loadAfter, peerMissing, peerVersion: probe.vagrantVersion});
  process.stderr.write(`\n${report}\n\n`);
  const {rows, ssh, versionOverNodeMs} = summarize(samples);
  console.log(JSON.stringify({
    pairs, runs, cpus, memory_mib: memory,
    peer: peerMissing ? null : probe.vagrantVersion,
    ratios_missing_because: peerMissing ?? null,
    load_average_before: loadBefore.map((x) => Number(x.toFixed(2))),
    load_average_after: loadAfter.map((x) => Number(x.toFixed(2))),
    rows, ssh_vs_openssh: ssh, version_over_node_ms: versionOverNodeMs,
    report,
    samples,
  }, null, 2));
} finally {
  await box?.cli(box.destroy).catch(() => undefined);
  await vagrant?.cli(vagrant.destroy).catch(() => undefined);
  rmSync(work, {recursive: true, force: true});
  await release();
}
