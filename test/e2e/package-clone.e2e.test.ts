/**
 * `box package` and `box up NEW --from MACHINE@SNAPSHOT` on a REAL guest under TCG, with one
 * boot of the source (three boots in all: the source, a machine of the packaged box, a clone):
 * - a file written in the source is in the packaged box (`box box add` → another project's
 *   `box up`), whose first up logs in with Vagrant's insecure key and swaps in its own key;
 *   `vagrant box add` (Debian's Vagrant 2.3.4) accepts the box too;
 * - a clone of the source's snapshot boots with its own key and SSH port and finds the file;
 *   the source's key does not open it; `status`/`destroy` see it; destroying the source leaves
 *   the clone whole.
 */
import assert from 'node:assert/strict';
import {existsSync} from 'node:fs';
import {readFile, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {execa} from 'execa';
import YAML from 'yaml';
import {INSECURE_PRIVATE_KEY} from '../../src/communicators/insecure-key.js';
import {qmpOnce} from '../../src/providers/qemu/qmp.js';
import {box, boxJson, tempDir} from '../helpers/cli.js';
import {takeE2eSlot} from '../helpers/e2e-slot.js';
import {addTestBox, ensureTestBox} from '../helpers/test-box.js';
import {qemuProcesses} from '../helpers/qemu-processes.js';
import {removeE2eProject} from '../helpers/e2e-project.js';

describe('box package and clones, on a real guest', {timeout: 20 * 60_000}, () => {
  let release: () => Promise<void>;
  let home: Awaited<ReturnType<typeof tempDir>>;
  let a: Awaited<ReturnType<typeof tempDir>>;
  let b: Awaited<ReturnType<typeof tempDir>>;
  let vagrantHome: Awaited<ReturnType<typeof tempDir>>;
  const timings: Record<string, number> = {};
  const t0 = Date.now();
  const machineDir = (project: string, name: string) => path.join(project, '.box', 'machines', name);
  const state = async (project: string, name: string) => JSON.parse(await readFile(path.join(machineDir(project, name), 'state.json'), 'utf8'));
  const sshWith = (key: string, port: number, command = 'true') => execa('ssh', ['-F', '/dev/null', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null',
    '-o', 'IdentitiesOnly=yes', '-o', 'ConnectTimeout=20', '-i', key, '-p', String(port), 'vagrant@127.0.0.1', command], {reject: false});
  const insecureKey = () => path.join(a.dir, 'vagrant-insecure-key');
  /** The guest's machine-id and ed25519 host key fingerprint, one per line. */
  const IDENTITY = 'cat /etc/machine-id && ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub';
  let srcIdentity = '';
  const timed = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const start = Date.now();
    try {
      return await fn();
    } finally {
      timings[name] = Date.now() - start;
    }
  };

  before(async () => {
    release = await takeE2eSlot();
    await ensureTestBox();
    home = await tempDir('box-e2e-home-');
    a = await tempDir('box-e2e-package-a-');
    b = await tempDir('box-e2e-package-b-');
    vagrantHome = await tempDir('box-e2e-vagrant-home-');
    await addTestBox(home.dir);
    await writeFile(insecureKey(), INSECURE_PRIVATE_KEY, {mode: 0o600});
    await writeFile(path.join(a.dir, 'Boxfile'), YAML.stringify({basebox: 'debian-12-minimal', target: 'qemu', targets: {qemu: {cpus: 2, memory: 384}}, machines: {src: {}}}));
  });

  after(async () => {
    await removeE2eProject([a, b], home);
    await vagrantHome?.cleanup();
    await release?.();
    process.stderr.write(`[package-clone e2e] timings ${JSON.stringify({...timings, total: Date.now() - t0})}\n`);
  });

  test('a running machine is packaged: its guest gets the insecure key back, it is halted, the box holds its disk', async () => {
    const up = await timed('upSource', () => boxJson(['up', 'src'], {cwd: a.dir, boxHome: home.dir, timeoutMs: 300_000}));
    assert.equal(up.result.exitCode, 0, String(up.result.stderr));
    const wrote = await box(['ssh', 'src', '-c', `echo made-in-src > /home/vagrant/marker && sync && ${IDENTITY}`], {cwd: a.dir, boxHome: home.dir});
    assert.equal(wrote.exitCode, 0, String(wrote.stderr));
    srcIdentity = String(wrote.stdout).trim();
    assert.match(srcIdentity, /^[0-9a-f]{32}\n256 SHA256:/);
    // An internal snapshot of the running source (w28's `box snapshot save` will make these).
    await timed('savevm', () => qmpOnce(path.join(machineDir(a.dir, 'src'), 'qmp.sock'), 'human-monitor-command', {'command-line': 'savevm s1'}, 120_000));

    const {result, json} = await timed('package', () => boxJson(['package', 'src', '--output', 'src.box'], {cwd: a.dir, boxHome: home.dir, timeoutMs: 300_000}));
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
    const status = await boxJson(['status', 'src'], {cwd: a.dir, boxHome: home.dir});
    assert.equal(status.json.machines[0].status, 'stopped');
    assert.equal((await state(a.dir, 'src')).provider.keyInserted, false, 'the next up of src swaps its key again');
    // Packaging again without --force keeps the box.
    const again = await box(['package', 'src', '--output', 'src.box'], {cwd: a.dir, boxHome: home.dir});
    assert.equal(again.exitCode, 2);
    assert.match(String(again.stderr), /already exists/);
  });

  test('vagrant box add accepts the packaged box', async () => {
    const added = await timed('vagrantBoxAdd', () => execa('vagrant', ['box', 'add', '--name', 'packaged', path.join(a.dir, 'src.box')], {env: {VAGRANT_HOME: vagrantHome.dir}, reject: false, timeout: 120_000}));
    assert.equal(added.exitCode, 0, `${added.stdout}\n${added.stderr}`);
    const list = await execa('vagrant', ['box', 'list'], {env: {VAGRANT_HOME: vagrantHome.dir}});
    assert.match(String(list.stdout), /packaged\s+\(libvirt, 0\)/);
  });

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
    assert.equal((await box(['destroy', '--force'], {cwd: b.dir, boxHome: home.dir})).exitCode, 0);
  });

  test('a clone of the source\'s snapshot: its own key and port, the file, the source key refused; destroying the source leaves it whole', async () => {
    const srcKey = path.join(machineDir(a.dir, 'src'), 'id_ed25519');
    const srcPort = (await state(a.dir, 'src')).provider.sshPort as number;
    const {result, json} = await timed('upClone', () => boxJson(['up', 'copy', '--from', 'src@s1'], {cwd: a.dir, boxHome: home.dir, timeoutMs: 300_000}));
    assert.equal(result.exitCode, 0, `${result.stdout}\n${result.stderr}`);
    assert.equal(json.machines[0].name, 'copy');
    assert.equal(json.machines[0].created, true);
    const port = json.machines[0].ssh.port as number;
    assert.notEqual(port, srcPort);
    const copyDir = machineDir(a.dir, 'copy');
    const recorded = await state(a.dir, 'copy');
    assert.deepEqual(recorded.cloneOf, {machine: 'src', snapshot: 's1'});
    assert.equal(recorded.provider.keyInserted, true);
    // Its disk: own overlay → own base (the source's delta at s1) → the box image; not the source's overlay.
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
    const status = await boxJson(['status'], {cwd: a.dir, boxHome: home.dir});
    assert.deepEqual(status.json.machines.map((m: {name: string; status: string}) => [m.name, m.status]), [['src', 'stopped'], ['copy', 'running']]);

    assert.equal((await box(['destroy', 'src', '--force'], {cwd: a.dir, boxHome: home.dir})).exitCode, 0);
    const check = await box(['ssh', 'copy', '-c', 'cat /home/vagrant/marker'], {cwd: a.dir, boxHome: home.dir});
    assert.equal(String(check.stdout).trim(), 'made-in-src', String(check.stderr));
    assert.equal((await box(['halt', 'copy'], {cwd: a.dir, boxHome: home.dir, timeoutMs: 180_000})).exitCode, 0);
    const check2 = await execa('qemu-img', ['check', '-U', path.join(copyDir, 'disk.qcow2')], {reject: false});
    assert.equal(check2.exitCode, 0, String(check2.stdout));
    const destroyed = await box(['destroy', 'copy', '--force'], {cwd: a.dir, boxHome: home.dir});
    assert.equal(destroyed.exitCode, 0, String(destroyed.stderr));
    assert.equal(existsSync(copyDir), false, 'its base and overlay went with it');
  });
});
