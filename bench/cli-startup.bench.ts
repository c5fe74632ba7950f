// CLI start-up: `box --version`, `box --help` and `box status` (a project whose machine is not
// created) against a bare `node -e ''`, and `box ssh -c true` to a running machine against plain
// OpenSSH with the same options; median of N runs each. The commands run in turn (node,
// --version, --help, status, status --json, ssh, box ssh, node, ...) so a machine whose speed
// drifts (other guests under TCG) weighs on all of them alike; the `*_over_node_ms` figures are
// what box adds to Node's own start-up. Issue 15's targets: --version within 60 ms of node on a
// quiet machine, `box ssh -c` within 10 % of plain OpenSSH. The running machine is
// test/helpers/running-machine.ts: a real sshd where the guest's would be, no guest boot.
// `box ssh` shares one connection per machine (docs/architecture.md, "Shared SSH connection"):
// the first run opens it (`ssh_c_first_ms`, one sample, before the warm-up), the timed runs use
// it; plain OpenSSH makes a new connection each time, as a user's `ssh` does.
import {execFileSync} from 'node:child_process';
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {sshArgs} from '../src/communicators/ssh/openssh.js';
import {machineFiles} from '../src/core/paths.js';
import {runningMachine} from '../test/helpers/running-machine.js';

const runs = Number(process.env.BENCH_RUNS ?? 15);
const bin = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'run.js');
const project = mkdtempSync(path.join(os.tmpdir(), 'box-bench-'));
const home = mkdtempSync(path.join(os.tmpdir(), 'box-bench-home-'));
writeFileSync(path.join(project, 'Boxfile'), 'basebox: debian-12-minimal\ntarget: qemu\n');
const sshProject = mkdtempSync(path.join(os.tmpdir(), 'box-bench-ssh-'));
const machine = await runningMachine(sshProject);
const plainSsh = sshArgs({host: machine.sshd.host, port: machine.sshd.port, username: machine.sshd.username, privateKeyPath: path.join(sshProject, '.box', 'machines', 'default', machineFiles.privateKey)}, {command: 'true'});

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

// [program, argv, cwd]
const commands: Record<string, [string, string[], string]> = {
  node: [process.execPath, ['-e', ''], project],
  version: [process.execPath, [bin, '--version'], project],
  help: [process.execPath, [bin, '--help'], project],
  status: [process.execPath, [bin, 'status'], project],
  status_json: [process.execPath, [bin, 'status', '--json'], project],
  openssh: ['ssh', plainSsh, sshProject],
  ssh_c: [process.execPath, [bin, 'ssh', '-c', 'true'], sshProject],
};

function once([program, args, cwd]: [string, string[], string]): number {
  const t0 = performance.now();
  try {
    execFileSync(program, args, {cwd, env: {...process.env, BOX_HOME: home}, stdio: 'ignore'});
  } catch {
    // a failing status is timed all the same (start-up is what this measures)
  }
  return performance.now() - t0;
}

try {
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(commands).map((name) => [name, []]));
  const sshFirst = once(commands.ssh_c);
  for (const args of Object.values(commands)) once(args); // warm-up: file cache, not counted
  for (let i = 0; i < runs; i++) {
    for (const [name, args] of Object.entries(commands)) samples[name].push(once(args));
  }
  const ms = Object.fromEntries(Object.entries(samples).map(([name, values]) => [name, Math.round(median(values))]));
  const result = {
    runs,
    load_average_1m: Number(os.loadavg()[0].toFixed(2)),
    node_median_ms: ms.node,
    version_median_ms: ms.version,
    help_median_ms: ms.help,
    status_median_ms: ms.status,
    status_json_median_ms: ms.status_json,
    version_over_node_ms: ms.version - ms.node,
    status_over_node_ms: ms.status - ms.node,
    openssh_median_ms: ms.openssh,
    ssh_c_first_ms: Math.round(sshFirst),
    ssh_c_median_ms: ms.ssh_c,
    ssh_c_over_openssh: Number((ms.ssh_c / ms.openssh).toFixed(2)),
  };
  console.log(JSON.stringify(result));
} finally {
  await machine.stop();
  rmSync(sshProject, {recursive: true, force: true});
  rmSync(project, {recursive: true, force: true});
  rmSync(home, {recursive: true, force: true});
}
