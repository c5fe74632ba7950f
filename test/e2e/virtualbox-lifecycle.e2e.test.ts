/**
 * The virtualbox target end to end with a REAL guest: the fake VBoxManage (FAKE_VBOX_BOOT=qemu)
 * boots the imported VMDK with QEMU under TCG and forwards its NAT rules, so box's SSH wait, key
 * replacement, provisioning, `ssh -c`, ACPI halt and reboot run against a real Debian guest over
 * real SSH. The box is made from the test box with box's own virtualbox packager (VMDK + OVF).
 * init → up → ssh -c → provision → halt → a clone of the halted VM (`up copy --from default`)
 * → up (the file survived) → status → package → `vagrant box add` and `box box add` + `up` of the
 * packaged box in a second project (the file, its own key) → destroy.
 */
import assert from 'node:assert/strict';
import {existsSync, readdirSync} from 'node:fs';
import {readFile, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {execa} from 'execa';
import YAML from 'yaml';
import {packageVirtualboxBox} from '../../src/boxes/package.js';
import {box, boxBin, boxJson, tempDir} from '../helpers/cli.js';
import {takeE2eSlot} from '../helpers/e2e-slot.js';
import {passwordLogin} from '../helpers/password-login.js';
import {ensureTestBox} from '../helpers/test-box.js';
import {fakeCalls, fakeEnv, fakeGuestPids, fakeVBoxDir, fakeVms} from '../providers/virtualbox/fake-vbox.js';

describe('virtualbox lifecycle with a real guest behind the fake VBoxManage', {timeout: 20 * 60_000}, () => {
  let release: () => Promise<void>;
  let home: Awaited<ReturnType<typeof tempDir>>;
  let project: Awaited<ReturnType<typeof tempDir>>;
  let vbox: Awaited<ReturnType<typeof tempDir>>;
  const env = () => fakeEnv(vbox.dir, 'qemu');
  const run = (args: string[]) => box(args, {cwd: project.dir, boxHome: home.dir, env: env(), timeoutMs: 300_000});
  const runJson = (args: string[]) => boxJson(args, {cwd: project.dir, boxHome: home.dir, env: env(), timeoutMs: 300_000});
  let sourceIdentity = '';

  before(async () => {
    release = await takeE2eSlot();
    const testBox = await ensureTestBox();
    home = await tempDir('box-e2e-vbox-home-');
    project = await tempDir('box-e2e-vbox-project-');
    vbox = await tempDir('box-e2e-fake-vbox-');
    // The libvirt test box's qcow2 becomes a virtualbox box (stream-optimized VMDK + OVF).
    await execa('tar', ['-xf', testBox.boxPath, '-C', home.dir, 'box.img']);
    const vboxBox = path.join(home.dir, 'debian-12-minimal-virtualbox.box');
    await packageVirtualboxBox({imagePath: path.join(home.dir, 'box.img'), outputPath: vboxBox, name: 'debian-12-minimal', cpus: 1, memoryMiB: 512});
    const added = await box(['box', 'add', testBox.name, vboxBox, '--box-version', testBox.version], {boxHome: home.dir, timeoutMs: 300_000});
    assert.equal(added.exitCode, 0, String(added.stderr));
  });

  after(async () => {
    // Whatever happened: no guest of this test may survive it.
    if (project) await box(['destroy', '--force'], {cwd: project.dir, boxHome: home.dir, env: env()}).catch(() => undefined);
    if (vbox) for (const pid of await fakeGuestPids(vbox.dir)) process.kill(pid, 'SIGKILL');
    await project?.cleanup();
    await vbox?.cleanup();
    await home?.cleanup();
    await release?.();
  });

  test('init writes a Boxfile for the virtualbox target', async () => {
    const {result, json} = await runJson(['init', '--basebox', 'debian-12-minimal', '--target', 'virtualbox']);
    assert.equal(result.exitCode, 0, String(result.stderr));
    assert.equal(json.target, 'virtualbox');
    const file = path.join(project.dir, 'Boxfile');
    const doc = YAML.parseDocument(await readFile(file, 'utf8'));
    doc.set('targets', {virtualbox: {cpus: 2, memory: 768}});
    doc.set('provisioners', [{type: 'shell', inline: 'echo "$(id -u) $GREETING" > /var/tmp/provisioned', env: {GREETING: 'hello vbox'}}]);
    await writeFile(file, doc.toString());
    assert.equal((await runJson(['validate'])).result.exitCode, 0);
  });

  test('up imports, clones and boots the VMDK, replaces the insecure key and provisions', async () => {
    const {result, json} = await runJson(['up']);
    assert.equal(result.exitCode, 0, `${result.stdout}\n${result.stderr}`);
    const m = json.machines[0];
    assert.deepEqual([m.target, m.status, m.created, m.ranProvisioners, m.provisioned], ['virtualbox', 'running', true, true, true]);
    const dir = path.join(project.dir, '.box', 'machines', 'default');
    const state = JSON.parse(await readFile(path.join(dir, 'state.json'), 'utf8'));
    assert.equal(state.provider.keyInserted, true);
    assert.ok(existsSync(path.join(dir, 'id_ed25519')));
    // The guest's console came out of serial port 1 (--uartmode1 file) into the machine folder.
    assert.match(await readFile(path.join(dir, 'serial.log'), 'utf8'), /Linux version|login:/);
    const vm = fakeVms(vbox.dir).find((v) => v.name === state.provider.vmName)!;
    assert.deepEqual([vm.state, vm.cpus, vm.memory], ['running', 2, 768]);
    assert.equal((await fakeGuestPids(vbox.dir)).length, 1);
  });

  test('ssh -c runs in the guest with the per-machine key; the insecure key no longer logs in', async () => {
    const {result, json} = await runJson(['ssh', '-c', 'cat /var/tmp/provisioned; nproc']);
    assert.equal(result.exitCode, 0, String(result.stderr));
    assert.equal(json.stdout.trim().split('\n').join('|'), '0 hello vbox|2');
    const {json: cfg} = await runJson(['ssh-config']);
    const attempt = await execa('ssh', ['-F', '/dev/null', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'IdentitiesOnly=yes',
      '-i', path.join(home.dir, 'insecure_private_key'), '-p', String(cfg.machines[0].port), 'vagrant@127.0.0.1', 'true'], {reject: false});
    assert.notEqual(attempt.exitCode, 0, 'Vagrant\'s insecure key must have been replaced');
  });

  test('provision runs the provisioners again', async () => {
    await run(['ssh', '-c', 'sudo rm /var/tmp/provisioned']);
    const {result} = await runJson(['provision']);
    assert.equal(result.exitCode, 0, String(result.stderr));
    assert.equal(String((await run(['ssh', '-c', 'cat /var/tmp/provisioned'])).stdout).trim(), '0 hello vbox');
  });

  test('halt presses the ACPI power button and the VM reaches poweroff', async () => {
    await run(['ssh', '-c', 'echo written-before-halt | sudo tee /var/tmp/survivor >/dev/null; sync']);
    sourceIdentity = String((await run(['ssh', '-c', 'cat /etc/machine-id; sudo cat /etc/ssh/ssh_host_ed25519_key.pub'])).stdout).trim();
    const {result, json} = await runJson(['halt', '--timeout', '90']);
    assert.equal(result.exitCode, 0, String(result.stderr));
    assert.equal(json.machines[0].stoppedBy, 'acpi');
    assert.equal(json.machines[0].status, 'stopped');
    assert.deepEqual(fakeVms(vbox.dir).filter((v) => v.state !== 'poweroff').map((v) => v.name), []);
    assert.deepEqual(await fakeGuestPids(vbox.dir), []);
  });

  test('a clone of the halted VM boots with its disk, takes its own key, machine-id and host keys, and goes without touching the source', async () => {
    const {result, json} = await runJson(['up', 'copy', '--from', 'default']);
    assert.equal(result.exitCode, 0, `${result.stdout}\n${result.stderr}`);
    assert.deepEqual([json.machines[0].name, json.machines[0].created, json.machines[0].status], ['copy', true, 'running']);
    const dirOf = (m: string) => path.join(project.dir, '.box', 'machines', m);
    const copy = JSON.parse(await readFile(path.join(dirOf('copy'), 'state.json'), 'utf8'));
    assert.deepEqual([copy.cloneOf, copy.provider.keyInserted], [{machine: 'default'}, true]);
    const out = await runJson(['ssh', 'copy', '-c', 'cat /var/tmp/survivor; cat /etc/machine-id; sudo cat /etc/ssh/ssh_host_ed25519_key.pub']);
    assert.equal(out.result.exitCode, 0, String(out.result.stderr));
    const [survivor, machineId, hostKey] = out.json.stdout.trim().split('\n');
    assert.equal(survivor, 'written-before-halt');
    const [sourceMachineId, sourceHostKey] = sourceIdentity.split('\n');
    assert.match(machineId!, /^[0-9a-f]{32}$/);
    assert.notEqual(machineId, sourceMachineId, 'the clone has its own machine-id');
    assert.notEqual(hostKey, sourceHostKey, 'the clone has its own SSH host key');
    // The source's key (the clone's first login) was swapped out for the clone's own.
    const port = (await runJson(['ssh-config', 'copy'])).json.machines[0].port;
    const withSourceKey = await execa('ssh', ['-F', '/dev/null', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'IdentitiesOnly=yes',
      '-i', path.join(dirOf('default'), 'id_ed25519'), '-p', String(port), 'vagrant@127.0.0.1', 'true'], {reject: false});
    assert.notEqual(withSourceKey.exitCode, 0, 'the source machine\'s key must not open its clone');
    const destroyed = await runJson(['destroy', '--force', 'copy']);
    assert.equal(destroyed.result.exitCode, 0, String(destroyed.result.stderr));
    assert.equal(existsSync(dirOf('copy')), false);
    assert.deepEqual(await fakeGuestPids(vbox.dir), []);
    assert.equal(fakeVms(vbox.dir).some((v) => v.name === copy.provider.vmName), false);
  });

  test('up starts the same VM again: the file written before halt survived, no provisioning', async () => {
    const {result, json} = await runJson(['up']);
    assert.equal(result.exitCode, 0, String(result.stderr));
    assert.deepEqual([json.machines[0].created, json.machines[0].ranProvisioners], [false, false]);
    const {uuid} = JSON.parse(await readFile(path.join(project.dir, '.box', 'machines', 'default', 'state.json'), 'utf8')).provider;
    assert.equal(fakeCalls(vbox.dir).filter((c) => c.argv[0] === 'startvm' && c.argv[1] === uuid).length, 2, 'the source VM started twice (the clone is another VM)');
    assert.equal(String((await run(['ssh', '-c', 'cat /var/tmp/survivor'])).stdout).trim(), 'written-before-halt');
    const {json: st} = await runJson(['status']);
    assert.equal(st.machines[0].status, 'running');
    assert.equal(st.machines[0].details.vmState, 'running');
    assert.equal(typeof st.machines[0].details.sshPort, 'number');
  });

  test('package: the running VM is halted and exported as a virtualbox box that Vagrant and box accept; a machine of it has the file and its own key', async () => {
    const output = path.join(home.dir, 'packaged.box');
    const {result, json} = await runJson(['package', '--output', output]);
    assert.equal(result.exitCode, 0, `${result.stdout}\n${result.stderr}`);
    assert.deepEqual([json.provider, json.halted, json.box.path], ['virtualbox', true, output]);
    const members = String((await execa('tar', ['-tf', output])).stdout).split('\n').filter(Boolean);
    assert.deepEqual(members.map((f) => f.replace(/^\.\//, '')).sort(), ['Vagrantfile', 'box-disk001.vmdk', 'box.ovf', 'metadata.json']);
    const vagrantfile = String((await execa('tar', ['-xOf', output, members.find((f) => f.endsWith('Vagrantfile'))!])).stdout);
    assert.match(vagrantfile, /config\.vm\.base_mac = "080027[0-9A-F]{6}"/);
    assert.equal((await runJson(['status'])).json.machines[0].status, 'stopped');

    const vagrantHome = await tempDir('box-e2e-vbox-vagrant-');
    try {
      const added = await execa('vagrant', ['box', 'add', '--name', 'vbox-packaged', output], {env: {VAGRANT_HOME: vagrantHome.dir}, reject: false, timeout: 120_000});
      assert.equal(added.exitCode, 0, `${added.stdout}\n${added.stderr}`);
      assert.match(String((await execa('vagrant', ['box', 'list'], {env: {VAGRANT_HOME: vagrantHome.dir}})).stdout), /vbox-packaged\s+\(virtualbox, 0\)/);
    } finally {
      await vagrantHome.cleanup();
    }

    assert.equal((await box(['box', 'add', 'vbox-packaged', output], {boxHome: home.dir, timeoutMs: 300_000})).exitCode, 0);
    const second = await tempDir('box-e2e-vbox-packaged-');
    const runSecond = (args: string[]) => boxJson(args, {cwd: second.dir, boxHome: home.dir, env: env(), timeoutMs: 300_000});
    try {
      await writeFile(path.join(second.dir, 'Boxfile'), YAML.stringify({basebox: 'vbox-packaged', target: 'virtualbox', targets: {virtualbox: {cpus: 2, memory: 512}}}));
      const up = await runSecond(['up']);
      assert.equal(up.result.exitCode, 0, `${up.result.stdout}\n${up.result.stderr}`);
      const out = await runSecond(['ssh', '-c', 'cat /var/tmp/survivor']);
      assert.equal(out.json.stdout.trim(), 'written-before-halt');
      const state = JSON.parse(await readFile(path.join(second.dir, '.box', 'machines', 'default', 'state.json'), 'utf8'));
      assert.equal(state.provider.keyInserted, true, 'the packaged guest took Vagrant\'s insecure key again, and box swapped it');
      assert.equal((await runSecond(['destroy', '--force'])).result.exitCode, 0);
      // The packaged box's master goes too, so the next test finds only the first box's.
      const gone = await execa(path.join(fakeVBoxDir, 'VBoxManage'), ['unregistervm', state.provider.master, '--delete'], {env: {FAKE_VBOX_HOME: vbox.dir}, reject: false});
      assert.equal(gone.exitCode, 0, String(gone.stderr));
    } finally {
      await box(['destroy', '--force'], {cwd: second.dir, boxHome: home.dir, env: env()}).catch(() => undefined);
      await second.cleanup();
    }
  });

  test('destroy leaves no VM but the shared master, no state folder and no QEMU process', async () => {
    const master = JSON.parse(await readFile(path.join(project.dir, '.box', 'machines', 'default', 'state.json'), 'utf8')).provider.master;
    const {result} = await runJson(['destroy', '--force']);
    assert.equal(result.exitCode, 0, String(result.stderr));
    assert.deepEqual(fakeVms(vbox.dir).map((v) => v.name), [master]);
    assert.equal(existsSync(path.join(project.dir, '.box')), false);
    assert.deepEqual(await fakeGuestPids(vbox.dir), []);
    // The master goes the way a user removes it; then VirtualBox holds nothing of this test.
    const gone = await execa(path.join(fakeVBoxDir, 'VBoxManage'), ['unregistervm', master, '--delete'], {env: {FAKE_VBOX_HOME: vbox.dir}, reject: false});
    assert.equal(gone.exitCode, 0, String(gone.stderr));
    assert.deepEqual(fakeVms(vbox.dir), []);
    assert.deepEqual(readdirSync(path.join(vbox.dir, 'VirtualBox VMs')), []);
  });

  test('an up killed with -9 during the first boot leaves the insecure key; the next up finds the VM running and replaces it, ends password logins and sets the host name', async () => {
    const file = path.join(project.dir, 'Boxfile');
    const doc = YAML.parseDocument(await readFile(file, 'utf8'));
    doc.set('hostname', 'vbox-1');
    doc.delete('provisioners');
    await writeFile(file, doc.toString());
    const child = execa(process.execPath, [boxBin, 'up'], {cwd: project.dir, env: {...env(), BOX_HOME: home.dir, NO_COLOR: '1'}, reject: false});
    try {
      const deadline = Date.now() + 240_000;
      while ((await fakeGuestPids(vbox.dir)).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    } finally {
      child.kill('SIGKILL');
      await child;
    }
    // QEMU -daemonize is one process, then two, then one once the guest is set up and the parent
    // exits: the processes are counted once the fake's startvm recorded the guest's pid.
    const startedPid = () => fakeVms(vbox.dir).find((vm) => vm.state === 'running' && vm.pid !== undefined)?.pid;
    const settled = Date.now() + 60_000;
    while (startedPid() === undefined && Date.now() < settled) await new Promise((r) => setTimeout(r, 250));
    assert.deepEqual(await fakeGuestPids(vbox.dir), [startedPid()], 'the VM runs on after the CLI was killed');
    const {result, json} = await runJson(['up']);
    assert.equal(result.exitCode, 0, `${result.stdout}\n${result.stderr}`);
    assert.equal(json.machines[0].created, false);
    assert.match(String(result.stderr), /insecure key was never replaced; replacing it now/);
    const port = json.machines[0].ssh.port;
    const insecure = await execa('ssh', ['-F', '/dev/null', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'IdentitiesOnly=yes',
      '-i', path.join(home.dir, 'insecure_private_key'), '-p', String(port), 'vagrant@127.0.0.1', 'true'], {reject: false});
    assert.notEqual(insecure.exitCode, 0, 'the insecure key no longer logs in');
    const login = await passwordLogin(port);
    assert.equal(login.ok, false, `password login must fail, got ${JSON.stringify(login)}`);
    const r = await runJson(['ssh', '-c', 'hostname; sudo -n id -un']);
    assert.equal(r.json.stdout.trim(), 'vbox-1\nroot');
    const d = await runJson(['destroy', '--force']);
    assert.equal(d.result.exitCode, 0, String(d.result.stderr));
    assert.deepEqual(await fakeGuestPids(vbox.dir), []);
  });
});
