/**
 * Machine state on the qemu target with REAL guests under TCG: `box suspend`/`resume`,
 * `box snapshot`, `box package` and clones (`box up NEW --from MACHINE@SNAPSHOT`), all on ONE
 * source machine (a boot costs ~30 s of the CI's critical path, where guest files run one at a
 * time): the cases run in order and each leaves the machines as the next needs them. Five boots
 * in all: the source's first up, its up after a halted restore, its reboot by the restore of a
 * disk-only snapshot while it runs, a machine of the packaged box, the clone (resumes and the
 * live restore are not boots).
 *
 * - suspend: a process started before `box suspend` still runs after `box resume` (and after
 *   `halt --suspend` + `box up`), uptime goes on, no QEMU runs while suspended, ssh refuses;
 * - snapshot: a live snapshot (disk and RAM) restored into the running guest, then halted
 *   snapshots of its disk (restored while halted, and into the running machine), list and delete;
 * - package: a file written in the source is in the packaged box (`box box add` → another
 *   project's `box up`), whose first up logs in with Vagrant's insecure key and swaps in its own
 *   key; `vagrant box add` (Debian's Vagrant 2.3.4) accepts the box too; on that machine,
 *   `halt --force` discards a saved state;
 * - clone: a clone of the source's snapshot boots with its own key and SSH port and finds the
 *   file; the source's key does not open it; `status`/`destroy` see it; destroying the source
 *   leaves the clone whole.
 */
import assert from 'node:assert/strict';
import {existsSync} from 'node:fs';
import {readFile, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {execa} from 'execa';
import YAML from 'yaml';
import {INSECURE_PRIVATE_KEY} from '../../src/communicators/insecure-key.js';
import {box, boxJson, tempDir} from '../helpers/cli.js';
import {takeE2eSlot} from '../helpers/e2e-slot.js';
import {addTestBox, ensureTestBox} from '../helpers/test-box.js';
import {qemuProcesses} from '../helpers/qemu-processes.js';
import {removeE2eProject} from '../helpers/e2e-project.js';

describe('qemu machine state (suspend, snapshots, package, clones) with real guests', {timeout: 30 * 60_000}, () => {
  let release: () => Promise<void>;
  let home: Awaited<ReturnType<typeof tempDir>>;
  /** The source machine's project (machine `src`, later also its clone `copy`). */
  let a: Awaited<ReturnType<typeof tempDir>>;
  /** The project of a machine of the packaged box. */
  let b: Awaited<ReturnType<typeof tempDir>>;
  let vagrantHome: Awaited<ReturnType<typeof tempDir>>;
  let sleeper = '';
  let uptime = 0;
  let srcIdentity = '';
  const timings: Record<string, number> = {};
  const t0 = Date.now();
  const run = (args: string[], timeoutMs = 240_000) => box(args, {cwd: a.dir, boxHome: home.dir, timeoutMs});
  const runJson = (args: string[], timeoutMs = 240_000) => boxJson(args, {cwd: a.dir, boxHome: home.dir, timeoutMs});
  const machineDir = (project: string, name: string) => path.join(project, '.box', 'machines', name);
  const state = async (project: string, name: string) => JSON.parse(await readFile(path.join(machineDir(project, name), 'state.json'), 'utf8'));
  const stateFile = (project = a.dir, name = 'src') => path.join(machineDir(project, name), 'suspend.state');
  const guest = async (command: string) => {
    const result = await run(['ssh', 'src', '-c', command]);
    return {exitCode: result.exitCode, out: String(result.stdout).trim(), err: String(result.stderr)};
  };
  const sshWith = (key: string, port: number, command = 'true') => execa('ssh', ['-F', '/dev/null', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
    '-o', 'IdentitiesOnly=yes', '-o', 'ConnectTimeout=20', '-i', key, '-p', String(port), 'vagrant@127.0.0.1', command], {reject: false});
  const insecureKey = () => path.join(a.dir, 'vagrant-insecure-key');
  /** The guest's machine-id and ed25519 host key fingerprint, one per line. */
  const IDENTITY = 'cat /etc/machine-id && ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub';
  const timed = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const start = Date.now();
    try {
      return await fn();
    } finally {
      timings[name] = Date.now() - start;
    }
  };

  /** The sleeper's pid if it still runs, the guest's uptime, and its clock minus the host's (s). */
  async function guestFacts(): Promise<{alive: boolean; uptime: number; skew: number}> {
    const r = await run(['ssh', 'src', '-c', `kill -0 ${sleeper} && echo alive; cut -d' ' -f1 /proc/uptime; date +%s`]);
    assert.equal(r.exitCode, 0, String(r.stderr));
    const lines = String(r.stdout).trim().split('\n');
    const alive = lines[0] === 'alive';
    const rest = alive ? lines.slice(1) : lines;
    return {alive, uptime: Number(rest[0]), skew: Number(rest[1]) - Date.now() / 1000};
  }

  async function assertSuspended(): Promise<void> {
    const {json} = await runJson(['status', 'src']);
    assert.equal(json.machines[0].status, 'suspended');
    assert.deepEqual(qemuProcesses(a.dir), [], 'no QEMU runs while suspended');
    assert.ok(existsSync(stateFile()));
  }

  before(async () => {
    release = await takeE2eSlot();
    await ensureTestBox();
    home = await tempDir('box-e2e-state-home-');
    a = await tempDir('box-e2e-state-a-');
    b = await tempDir('box-e2e-state-b-');
    vagrantHome = await tempDir('box-e2e-vagrant-home-');
    await addTestBox(home.dir);
    await writeFile(insecureKey(), INSECURE_PRIVATE_KEY, {mode: 0o600});
    await writeFile(path.join(a.dir, 'Boxfile'), YAML.stringify({basebox: 'debian-12-minimal', target: 'qemu', targets: {qemu: {cpus: 2, memory: 384}}, machines: {src: {}}}));
  });

  after(async () => {
    await removeE2eProject([a, b], home);
    await vagrantHome?.cleanup();
    await release?.();
    process.stderr.write(`[machine-state e2e] timings ${JSON.stringify({...timings, total: Date.now() - t0})}\n`);
  });

  // Leaves: src running, with a background sleeper.
  test('up boots the guest, where a background process starts', async () => {
    const {result} = await timed('upSource', () => runJson(['up', 'src'], 400_000));
    assert.equal(result.exitCode, 0, String(result.stderr));
    const r = await run(['ssh', 'src', '-c', 'nohup sleep 10000 >/dev/null 2>&1 & echo $!']);
    assert.equal(r.exitCode, 0, String(r.stderr));
    sleeper = String(r.stdout).trim();
    assert.match(sleeper, /^\d+$/);
    uptime = (await guestFacts()).uptime;
  });

  // Leaves: src suspended.
  test('suspend saves the guest and stops QEMU; status says suspended; ssh refuses', async () => {
    const {result, json} = await timed('suspend', () => runJson(['suspend', 'src']));
    assert.equal(result.exitCode, 0, String(result.stderr));
    assert.equal(json.machines[0].suspended, true);
    assert.equal(json.machines[0].status, 'suspended');
    assert.equal(json.machines[0].method, 'qemu-migrate');
    assert.ok(json.machines[0].stateBytes > 1024 ** 2);
    await assertSuspended();
    const again = await runJson(['suspend', 'src']);
    assert.equal(again.result.exitCode, 0);
    assert.equal(again.json.machines[0].suspended, false, 'a second suspend changes nothing');
    const ssh = await run(['ssh', 'src', '-c', 'true']);
    assert.equal(ssh.exitCode, 1);
    assert.match(String(ssh.stderr), /suspended/);
  });

  // Leaves: src running (resumed).
  test('resume continues the guest without a boot: same process, uptime goes on, clock set', async () => {
    const {result, json} = await timed('resume', () => runJson(['resume', 'src']));
    assert.equal(result.exitCode, 0, String(result.stderr));
    assert.equal(json.machines[0].resumed, true);
    assert.equal(json.machines[0].status, 'running');
    assert.ok(!existsSync(stateFile()), 'the saved state goes once the guest runs');
    const facts = await guestFacts();
    assert.ok(facts.alive, `sleep ${sleeper} survived the suspend`);
    assert.ok(facts.uptime >= uptime, `uptime ${facts.uptime} s after ${uptime} s: no reboot`);
    assert.ok(Math.abs(facts.skew) < 30, `guest clock within 30 s of the host's (${facts.skew.toFixed(1)} s)`);
    uptime = facts.uptime;
  });

  // Leaves: src running (resumed by up).
  test('halt --suspend, then halt keeps the state, then up resumes', async () => {
    const {result, json} = await runJson(['halt', 'src', '--suspend']);
    assert.equal(result.exitCode, 0, String(result.stderr));
    assert.equal(json.machines[0].status, 'suspended');
    await assertSuspended();
    const halt = await runJson(['halt', 'src']);
    assert.equal(halt.result.exitCode, 0, String(halt.result.stderr));
    assert.equal(halt.json.machines[0].status, 'suspended');
    assert.match(String(halt.result.stderr), /saved state is kept/);
    const up = await runJson(['up', 'src']);
    assert.equal(up.result.exitCode, 0, String(up.result.stderr));
    assert.equal(up.json.machines[0].resumed, true);
    const facts = await guestFacts();
    assert.ok(facts.alive, `sleep ${sleeper} survived the second suspend`);
    assert.ok(facts.uptime >= uptime);
  });

  // Leaves: src running, with snapshot s1 (disk and RAM).
  test('live snapshot: save s1, delete the file, restore s1: the running guest has it back and answers ssh at once', async () => {
    assert.equal((await guest('echo one > /var/tmp/f && (setsid sleep 600 </dev/null >/dev/null 2>&1 &) && echo started')).exitCode, 0);
    const saved = await timed('snapshotSaveLive', () => runJson(['snapshot', 'save', 's1', 'src']));
    assert.equal(saved.result.exitCode, 0, String(saved.result.stderr));
    assert.equal(saved.json.machines[0].snapshot.withMemory, true);
    assert.ok(saved.json.machines[0].snapshot.sizeBytes > 1024 * 1024, 'the guest RAM is in the snapshot');
    assert.equal((await guest('rm /var/tmp/f && pkill -x sleep; echo gone')).out, 'gone');
    const restored = await timed('snapshotRestoreLive', () => runJson(['snapshot', 'restore', 's1', 'src']));
    assert.equal(restored.result.exitCode, 0, String(restored.result.stderr));
    assert.equal(restored.json.machines[0].live, true);
    const after = await guest('cat /var/tmp/f; pgrep -x sleep >/dev/null && echo sleeping');
    assert.equal(after.exitCode, 0, after.err);
    assert.equal(after.out, 'one\nsleeping', 'the file and the process from before the snapshot are back');
  });

  // Leaves: src running again (the third boot), with s1 and h1.
  test('halted snapshot: save h1, change the disk, up; restore h1 on the running machine halts it, reverts the disk and boots: the file is as it was at h1', async () => {
    assert.equal((await guest('echo two > /var/tmp/f && sync')).exitCode, 0);
    assert.equal((await timed('halt', () => run(['halt', 'src']))).exitCode, 0);
    const saved = await runJson(['snapshot', 'save', 'h1', 'src']);
    assert.equal(saved.result.exitCode, 0, String(saved.result.stderr));
    assert.equal(saved.json.machines[0].snapshot.withMemory, false);
    // The change, while halted: s1's disk (the file says "one") goes back, and says it is the disk only.
    const toS1 = await runJson(['snapshot', 'restore', 's1', 'src']);
    assert.equal(toS1.result.exitCode, 0, String(toS1.result.stderr));
    assert.match(toS1.json.machines[0].note, /only the disk/);
    assert.equal((await timed('upAfterHaltedRestore', () => run(['up', 'src'], 400_000))).exitCode, 0);
    // s1's disk as a power cut at s1 left it ("one" may still have been in the page cache), never the later "two".
    assert.notEqual((await guest('cat /var/tmp/f 2>/dev/null; true')).out, 'two', 's1\'s disk, booted');
    // h1 holds no memory: restored into the running machine, it is a halt, the disk, a boot.
    const restored = await timed('diskOnlyRestoreRunning', () => runJson(['snapshot', 'restore', 'h1', 'src'], 400_000));
    assert.equal(restored.result.exitCode, 0, String(restored.result.stderr));
    assert.equal(restored.json.machines[0].live, false);
    assert.match(restored.json.machines[0].note, /halted, disk reverted, booted again/);
    assert.equal((await runJson(['status', 'src'])).json.machines[0].status, 'running');
    assert.equal((await guest('cat /var/tmp/f')).out, 'two');
  });

  // Leaves: src running, no snapshots.
  test('snapshot list --json shows both with their kind; delete removes them', async () => {
    const list = await runJson(['snapshot', 'list', 'src']);
    assert.equal(list.result.exitCode, 0);
    const snaps = list.json.machines[0].snapshots.map((s: {name: string; withMemory: boolean}) => `${s.name}:${s.withMemory}`);
    assert.deepEqual(snaps, ['s1:true', 'h1:false']);
    assert.equal((await run(['snapshot', 'delete', 's1', 'src'])).exitCode, 0);
    assert.equal((await run(['snapshot', 'delete', 'h1', 'src'])).exitCode, 0);
    assert.deepEqual((await runJson(['snapshot', 'list', 'src'])).json.machines[0].snapshots, []);
    assert.equal((await guest('echo still-up')).out, 'still-up');
  });

  // Leaves: src stopped, with snapshot c1 (of the running guest, the clone's source) and the box src.box.
  test('a running machine is packaged: its guest gets the insecure key back, it is halted, the box holds its disk', async () => {
    const wrote = await guest(`echo made-in-src > /home/vagrant/marker && sync && ${IDENTITY}`);
    assert.equal(wrote.exitCode, 0, wrote.err);
    srcIdentity = wrote.out;
    assert.match(srcIdentity, /^[0-9a-f]{32}\n256 SHA256:/);
    const snap = await timed('snapshotSaveForClone', () => runJson(['snapshot', 'save', 'c1', 'src']));
    assert.equal(snap.result.exitCode, 0, String(snap.result.stderr));

    const {result, json} = await timed('package', () => runJson(['package', 'src', '--output', 'src.box'], 300_000));
    assert.equal(result.exitCode, 0, `${result.stdout}\n${result.stderr}`);
    assert.equal(json.halted, true);
    assert.equal(json.provider, 'libvirt');
    assert.equal(json.box.path, path.join(a.dir, 'src.box'));
    assert.equal(json.metadata.format, 'qcow2');
    assert.ok(Number.isInteger(json.metadata.virtual_size) && json.metadata.virtual_size >= 1);
    assert.equal(typeof json.metadata.kernel, 'string', 'the source box\'s direct-kernel boot is carried over');
    assert.match(String(result.stderr), /halt/);
    const files = String((await execa('tar', ['-tf', path.join(a.dir, 'src.box')])).stdout).split('\n');
    assert.equal(files[0], 'metadata.json');
    assert.ok(files.includes('box.img') && files.includes(json.metadata.kernel), files.join(' '));
    const status = await runJson(['status', 'src']);
    assert.equal(status.json.machines[0].status, 'stopped');
    assert.equal((await state(a.dir, 'src')).provider.keyInserted, false, 'the next up of src swaps its key again');
    // Packaging again without --force keeps the box.
    const again = await run(['package', 'src', '--output', 'src.box']);
    assert.equal(again.exitCode, 2);
    assert.match(String(again.stderr), /already exists/);
  });

  test('vagrant box add accepts the packaged box', async () => {
    const added = await timed('vagrantBoxAdd', () => execa('vagrant', ['box', 'add', '--name', 'packaged', path.join(a.dir, 'src.box')], {env: {VAGRANT_HOME: vagrantHome.dir}, reject: false, timeout: 120_000}));
    assert.equal(added.exitCode, 0, `${added.stdout}\n${added.stderr}`);
    const list = await execa('vagrant', ['box', 'list'], {env: {VAGRANT_HOME: vagrantHome.dir}});
    assert.match(String(list.stdout), /packaged\s+\(libvirt, 0\)/);
  });

  // Leaves: b's machine running (the third boot).
  test('box box add + box up of the packaged box: the file is there, the insecure key is swapped for the machine\'s own', async () => {
    const added = await box(['box', 'add', 'packaged', path.join(a.dir, 'src.box')], {boxHome: home.dir, timeoutMs: 120_000});
    assert.equal(added.exitCode, 0, String(added.stderr));
    await writeFile(path.join(b.dir, 'Boxfile'), YAML.stringify({basebox: 'packaged', target: 'qemu', targets: {qemu: {cpus: 2, memory: 384}}}));
    const up = await timed('upPackaged', () => boxJson(['up'], {cwd: b.dir, boxHome: home.dir, timeoutMs: 300_000}));
    assert.equal(up.result.exitCode, 0, `${up.result.stdout}\n${up.result.stderr}`);
    const port = up.json.machines[0].ssh.port as number;
    const own = await sshWith(path.join(machineDir(b.dir, 'default'), 'id_ed25519'), port, `cat /home/vagrant/marker && ${IDENTITY}`);
    assert.equal(own.exitCode, 0, String(own.stderr));
    const [marker, machineId, hostKey] = String(own.stdout).trim().split('\n');
    assert.equal(marker, 'made-in-src');
    assert.match(machineId!, /^[0-9a-f]{32}$/, 'a machine-id was made at boot');
    assert.notEqual(machineId, srcIdentity.split('\n')[0], 'not the source\'s machine-id');
    assert.notEqual(hostKey, srcIdentity.split('\n')[1], 'nor its SSH host key');
    assert.notEqual((await sshWith(insecureKey(), port)).exitCode, 0, 'the insecure key no longer opens it');
    assert.notEqual((await sshWith(path.join(machineDir(a.dir, 'src'), 'id_ed25519'), port)).exitCode, 0, 'the source\'s key does not open it');
  });

  // Leaves: b's machine destroyed. (On this machine because it runs: src is stopped, and an up of it would be a boot.)
  test('halt --force discards a saved state: stopped, file gone; resume then refuses', async () => {
    const inB = (args: string[]) => boxJson(args, {cwd: b.dir, boxHome: home.dir, timeoutMs: 240_000});
    const suspended = await inB(['suspend']);
    assert.equal(suspended.result.exitCode, 0, String(suspended.result.stderr));
    assert.ok(existsSync(stateFile(b.dir, 'default')));
    const {result, json} = await inB(['halt', '--force']);
    assert.equal(result.exitCode, 0, String(result.stderr));
    assert.equal(json.machines[0].status, 'stopped');
    assert.ok(!existsSync(stateFile(b.dir, 'default')));
    const resume = await inB(['resume']);
    assert.equal(resume.result.exitCode, 1);
    assert.equal(resume.json.error.code, 'ERR_NOT_SUSPENDED');
    assert.equal((await box(['destroy', '--force'], {cwd: b.dir, boxHome: home.dir})).exitCode, 0);
  });

  // Leaves: nothing (src and copy destroyed).
  test('a clone of the source\'s snapshot: its own key and port, the file, the source key refused; destroying the source leaves it whole', async () => {
    const srcKey = path.join(machineDir(a.dir, 'src'), 'id_ed25519');
    const srcPort = (await state(a.dir, 'src')).provider.sshPort as number;
    const {result, json} = await timed('upClone', () => runJson(['up', 'copy', '--from', 'src@c1'], 300_000));
    assert.equal(result.exitCode, 0, `${result.stdout}\n${result.stderr}`);
    assert.equal(json.machines[0].name, 'copy');
    assert.equal(json.machines[0].created, true);
    const port = json.machines[0].ssh.port as number;
    assert.notEqual(port, srcPort);
    const copyDir = machineDir(a.dir, 'copy');
    const recorded = await state(a.dir, 'copy');
    assert.deepEqual(recorded.cloneOf, {machine: 'src', snapshot: 'c1'});
    assert.equal(recorded.provider.keyInserted, true);
    // Its disk: own overlay → own base (the source's delta at c1) → the box image; not the source's overlay.
    const chain = JSON.parse(String((await execa('qemu-img', ['info', '-U', '--backing-chain', '--output=json', path.join(copyDir, 'disk.qcow2')])).stdout)) as Array<{filename: string}>;
    assert.deepEqual(chain.map((i) => path.basename(i.filename)), ['disk.qcow2', 'clone-base.qcow2', 'box.img']);
    const own = await sshWith(path.join(copyDir, 'id_ed25519'), port, `cat /home/vagrant/marker && ${IDENTITY}`);
    assert.equal(own.exitCode, 0, String(own.stderr));
    const [marker, machineId, hostKey] = String(own.stdout).trim().split('\n');
    assert.equal(marker, 'made-in-src');
    assert.match(machineId!, /^[0-9a-f]{32}$/);
    assert.notEqual(machineId, srcIdentity.split('\n')[0], 'a machine-id of its own');
    assert.notEqual(hostKey, srcIdentity.split('\n')[1], 'SSH host keys of its own');
    assert.notEqual((await sshWith(srcKey, port)).exitCode, 0, 'the source\'s key does not open the clone');
    assert.notEqual((await sshWith(insecureKey(), port)).exitCode, 0, 'nor does the insecure key');
    const status = await runJson(['status']);
    assert.deepEqual(status.json.machines.map((m: {name: string; status: string}) => [m.name, m.status]), [['src', 'stopped'], ['copy', 'running']]);

    assert.equal((await run(['destroy', 'src', '--force'])).exitCode, 0);
    const check = await run(['ssh', 'copy', '-c', 'cat /home/vagrant/marker']);
    assert.equal(String(check.stdout).trim(), 'made-in-src', String(check.stderr));
    assert.equal((await run(['halt', 'copy'], 180_000)).exitCode, 0);
    const check2 = await execa('qemu-img', ['check', '-U', path.join(copyDir, 'disk.qcow2')], {reject: false});
    assert.equal(check2.exitCode, 0, String(check2.stdout));
    const destroyed = await run(['destroy', 'copy', '--force']);
    assert.equal(destroyed.exitCode, 0, String(destroyed.stderr));
    assert.equal(existsSync(copyDir), false, 'its base and overlay went with it');
  });
});
