/**
 * The qemu target end to end with a REAL guest under TCG: init → up → provision → halt → up →
 * ssh -c → destroy, on one machine (each boot costs ~20-35 s); then a kill -9 of the CLI
 * during `up`, and a port collision that must fail before anything boots.
 */
import assert from 'node:assert/strict';
import {execFileSync} from 'node:child_process';
import {existsSync} from 'node:fs';
import {readFile, writeFile} from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {execa} from 'execa';
import YAML from 'yaml';
import {box, boxBin, boxJson, tempDir} from '../helpers/cli.js';
import {takeE2eSlot} from '../helpers/e2e-slot.js';
import {addTestBox, ensureTestBox} from '../helpers/test-box.js';
import {qemuProcesses} from '../helpers/qemu-processes.js';
import {removeE2eProject} from '../helpers/e2e-project.js';

async function waitFor(what: string, check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function writeBoxfile(project: string, patch: Record<string, unknown>): Promise<void> {
  const file = path.join(project, 'Boxfile');
  const doc = YAML.parseDocument(await readFile(file, 'utf8'));
  for (const [key, value] of Object.entries(patch)) doc.set(key, value);
  await writeFile(file, doc.toString());
}

describe('qemu lifecycle with a real guest', {timeout: 20 * 60_000}, () => {
  let release: () => Promise<void>;
  let home: Awaited<ReturnType<typeof tempDir>>;
  let project: Awaited<ReturnType<typeof tempDir>>;
  const run = (args: string[], timeoutMs = 240_000) => box(args, {cwd: project.dir, boxHome: home.dir, timeoutMs});
  const runJson = (args: string[], timeoutMs = 240_000) => boxJson(args, {cwd: project.dir, boxHome: home.dir, timeoutMs});

  before(async () => {
    release = await takeE2eSlot();
    await ensureTestBox();
    home = await tempDir('box-e2e-home-');
    project = await tempDir('box-e2e-project-');
    await addTestBox(home.dir);
  });

  after(async () => {
    // Whatever happened: no QEMU of this test may survive it.
    await removeE2eProject(project, home);
    await release?.();
  });

  test('init writes a Boxfile for the qemu target', async () => {
    const {result, json} = await runJson(['init', '--basebox', 'debian-12-minimal', '--target', 'qemu']);
    assert.equal(result.exitCode, 0, String(result.stderr));
    assert.equal(json.target, 'qemu');
    await writeFile(path.join(project.dir, 'motd.txt'), 'uploaded by box\n');
    await writeBoxfile(project.dir, {
      targets: {qemu: {cpus: 2, memory: 768, disk: 12}},
      provisioners: [
        {type: 'file', source: 'motd.txt', destination: '/tmp/motd.txt'},
        {type: 'shell', inline: ['install -m 644 /tmp/motd.txt /etc/box-motd', 'useradd --no-create-home boxprov || true', 'echo "$(id -u) $GREETING" > /var/tmp/provisioned'], env: {GREETING: 'hello world'}},
      ],
    });
    const {result: v} = await runJson(['validate']);
    assert.equal(v.exitCode, 0, String(v.stdout));
  });

  test('a forwarded port already in use on the host fails before anything is created or booted', async () => {
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const {port} = server.address() as net.AddressInfo;
    const original = await readFile(path.join(project.dir, 'Boxfile'), 'utf8');
    try {
      await writeBoxfile(project.dir, {forwarded_ports: [{guest: 80, host: port}]});
      const {result, json} = await runJson(['up']);
      assert.equal(result.exitCode, 2);
      assert.equal(json.error.code, 'ERR_PORT_COLLISION');
      assert.match(json.error.message, new RegExp(`127\\.0\\.0\\.1:${port} \\(guest 80\\) is already in use`));
      assert.equal(existsSync(path.join(project.dir, '.box', 'machines', 'default')), false);
      assert.deepEqual(qemuProcesses(project.dir), []);
    } finally {
      server.close();
      await writeFile(path.join(project.dir, 'Boxfile'), original);
    }
  });

  test('up boots the guest under TCG, replaces the insecure key and runs the provisioners once', async () => {
    const {result, json} = await runJson(['up']);
    assert.equal(result.exitCode, 0, `${result.stdout}\n${result.stderr}`);
    const [m] = json.machines;
    assert.equal(m.status, 'running');
    assert.equal(m.created, true);
    assert.equal(m.ranProvisioners, true);
    assert.equal(m.provisioned, true);
    assert.equal(m.details.accel, 'tcg');
    assert.match(m.details.accelReason, /TCG/);
    assert.match(String(result.stderr), /using TCG software emulation/);
    const dir = path.join(project.dir, '.box', 'machines', 'default');
    for (const f of ['state.json', 'disk.qcow2', 'serial.log', 'qemu.pid', 'id_ed25519']) assert.ok(existsSync(path.join(dir, f)), f);
    // The overlay is backed by the stored box image and grown to the Boxfile's 12 GiB.
    const info = JSON.parse((await execa('qemu-img', ['info', '-U', '--output=json', path.join(dir, 'disk.qcow2')])).stdout);
    assert.equal(info['virtual-size'], 12 * 1024 ** 3);
    assert.match(info['backing-filename'], /box\.img$/);
    assert.equal(qemuProcesses(project.dir).length, 1);
  });

  test('the provisioners\' effects are visible inside the guest, and the insecure key no longer logs in', async () => {
    const {result, json} = await runJson(['ssh', '-c', 'cat /etc/box-motd /var/tmp/provisioned; id boxprov >/dev/null && echo user-ok; nproc']);
    assert.equal(result.exitCode, 0, String(result.stderr));
    assert.equal(json.stdout.trim().split('\n').join('|'), 'uploaded by box|0 hello world|user-ok|2');
    const insecure = path.join(home.dir, 'insecure_private_key');
    const {stdout: port} = await execa('node', [boxBin, 'ssh-config', '--json'], {cwd: project.dir, env: {BOX_HOME: home.dir}}).then((r) => ({stdout: String(JSON.parse(r.stdout).machines[0].port)}));
    const attempt = await execa('ssh', ['-F', '/dev/null', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'IdentitiesOnly=yes', '-i', insecure, '-p', port, 'vagrant@127.0.0.1', 'true'], {reject: false});
    assert.notEqual(attempt.exitCode, 0, 'Vagrant\'s insecure key must have been replaced');
  });

  test('provision runs the provisioners again on the running machine', async () => {
    await run(['ssh', '-c', 'sudo rm /var/tmp/provisioned']);
    const {result, json} = await runJson(['provision']);
    assert.equal(result.exitCode, 0, String(result.stderr));
    assert.equal(json.machines[0].provisioners, 2);
    const check = await run(['ssh', '-c', 'cat /var/tmp/provisioned']);
    assert.equal(String(check.stdout).trim(), '0 hello world');
  });

  test('ssh-config gives a Host block the system ssh can use', async () => {
    const {stdout} = await run(['ssh-config']);
    const file = path.join(project.dir, 'ssh_config');
    await writeFile(file, String(stdout));
    const r = await execa('ssh', ['-F', file, '-o', 'BatchMode=yes', 'default', 'echo via-ssh-config'], {reject: false});
    assert.equal(r.exitCode, 0, String(r.stderr));
    assert.equal(String(r.stdout).trim(), 'via-ssh-config');
  });

  test('a second up on a running machine is a no-op that does not provision again', async () => {
    await run(['ssh', '-c', 'echo written-before-halt | sudo tee /var/tmp/survivor >/dev/null; sync']);
    const {result, json} = await runJson(['up']);
    assert.equal(result.exitCode, 0);
    assert.equal(json.machines[0].created, false);
    assert.equal(json.machines[0].ranProvisioners, false);
  });

  test('halt stops QEMU through the ACPI power button and status says stopped', async () => {
    const {result, json} = await runJson(['halt', '--timeout', '90']);
    assert.equal(result.exitCode, 0, String(result.stderr));
    assert.equal(json.machines[0].wasRunning, true);
    assert.equal(json.machines[0].stoppedBy, 'acpi', 'the guest reacts to the power button (logind), no SSH or kill fallback');
    assert.equal(json.machines[0].status, 'stopped');
    assert.deepEqual(qemuProcesses(project.dir), []);
    const {json: st} = await runJson(['status']);
    assert.equal(st.machines[0].status, 'stopped');
  });

  test('up on the halted machine boots the same disk: the file written before halt survived', async () => {
    const {result, json} = await runJson(['up']);
    assert.equal(result.exitCode, 0, String(result.stderr));
    assert.equal(json.machines[0].created, false);
    assert.equal(json.machines[0].ranProvisioners, false);
    const r = await runJson(['ssh', '-c', 'cat /var/tmp/survivor']);
    assert.equal(r.json.stdout.trim(), 'written-before-halt');
  });

  test('ssh -c passes the remote exit code through as box\'s exit code', async () => {
    const r = await run(['ssh', '-c', 'exit 3']);
    assert.equal(r.exitCode, 3);
  });

  test('reload --force restarts QEMU on the same disk without provisioning again', async () => {
    const before = qemuProcesses(project.dir);
    const {result, json} = await runJson(['reload', '--force']);
    assert.equal(result.exitCode, 0, String(result.stderr));
    assert.equal(json.machines[0].status, 'running');
    assert.equal(json.machines[0].ranProvisioners, false);
    const after = qemuProcesses(project.dir);
    assert.equal(after.length, 1);
    assert.notEqual(after[0], before[0], 'a new QEMU process');
    const r = await runJson(['ssh', '-c', 'cat /var/tmp/survivor']);
    assert.equal(r.json.stdout.trim(), 'written-before-halt');
  });

  test('status reports running with the ssh port, and status --all lists the machine from the index', async () => {
    const {json} = await runJson(['status']);
    assert.equal(json.machines[0].status, 'running');
    assert.equal(typeof json.machines[0].details.sshPort, 'number');
    const all = await boxJson(['status', '--all'], {boxHome: home.dir});
    assert.ok(all.json.machines.some((m: any) => m.projectRoot === project.dir && m.status === 'running'));
  });

  test('destroy leaves no QEMU process, no overlay, no state and no index entry; a second destroy is a no-op', async () => {
    const {result} = await runJson(['destroy']);
    assert.equal(result.exitCode, 0, String(result.stderr));
    assert.deepEqual(qemuProcesses(project.dir), []);
    assert.equal(existsSync(path.join(project.dir, '.box')), false);
    const index = JSON.parse(await readFile(path.join(home.dir, 'machines.json'), 'utf8'));
    assert.deepEqual(index.filter((e: any) => e.projectRoot === project.dir), []);
    const again = await runJson(['destroy']);
    assert.equal(again.result.exitCode, 0);
    assert.equal(again.json.machines[0].destroyed, false);
    const {json} = await runJson(['status']);
    assert.equal(json.machines[0].status, 'not-created');
  });

  test('kill -9 of the CLI during up leaves a recorded QEMU: a second up fails on the lock, status tells the truth, destroy cleans up', async () => {
    const child = execa(process.execPath, [boxBin, 'up', '--no-provision'], {cwd: project.dir, env: {BOX_HOME: home.dir, NO_COLOR: '1'}, reject: false});
    const pidFile = path.join(project.dir, '.box', 'machines', 'default', 'qemu.pid');
    let frozen: number | undefined;
    try {
      await waitFor('QEMU to start', () => existsSync(pidFile) && qemuProcesses(project.dir).length === 1, 120_000);
      // The guest is frozen (SIGSTOP) while the second up runs, so the first up is still waiting
      // for it when the second gives up on the lock (LOCK_WAIT_MS, 12 s): a first boot shorter
      // than that would otherwise let the first up finish and the second find it running.
      frozen = qemuProcesses(project.dir)[0]!;
      process.kill(frozen, 'SIGSTOP');
      const second = await runJson(['up']);
      assert.equal(second.result.exitCode, 1, String(second.result.stdout));
      assert.equal(second.json.error.code, 'ERR_LOCKED');
    } finally {
      child.kill('SIGKILL');
      await child;
      if (frozen !== undefined) process.kill(frozen, 'SIGCONT');
    }
    assert.equal(qemuProcesses(project.dir).length, 1, 'QEMU outlives the killed CLI');
    // QEMU runs and answers QMP, but its first up never finished: once the dead CLI's lock is
    // stale (10 s), status says so, with the QEMU's pid and `box up` as the repair.
    let report: any;
    await waitFor('status to report the unfinished first up', () => {
      report = JSON.parse(execFileSync(process.execPath, [boxBin, 'status', '--json'], {cwd: project.dir, env: {...process.env, BOX_HOME: home.dir}, encoding: 'utf8'})).machines[0];
      return report.status === 'broken';
    }, 30_000);
    assert.equal(report.details.vm, 'running');
    assert.equal(report.repair, 'box up default');
    assert.equal(report.details.pid, qemuProcesses(project.dir)[0]);
    const d = await runJson(['destroy', '--force']);
    assert.equal(d.result.exitCode, 0, String(d.result.stderr));
    assert.equal(d.json.machines[0].destroyed, true);
    assert.deepEqual(qemuProcesses(project.dir), []);
    assert.equal(existsSync(path.join(project.dir, '.box')), false);
  });
});
