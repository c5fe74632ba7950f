/**
 * The built CLI on `target: virtualbox` against the stateful fake VBoxManage, without a real
 * guest: its "banner" guest answers the SSH wait (so `ssh.insert_key: false`, no provisioners),
 * or nothing answers at all ("none") for the failure and Ctrl-C cases. Asserts both what box
 * tells the user and what VirtualBox (the fake's state and call log) was asked to do.
 */
import assert from 'node:assert/strict';
import {existsSync} from 'node:fs';
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {execa} from 'execa';
import YAML from 'yaml';
import {box, boxBin, boxJson, tempDir} from '../../helpers/cli.js';
import {fakeCalls, fakeEnv, fakeVBoxDir, fakeVms, makeFakeVirtualboxBox} from './fake-vbox.js';

type Dir = Awaited<ReturnType<typeof tempDir>>;

async function waitFor(what: string, check: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('virtualbox target through the CLI, against the fake VBoxManage', {timeout: 5 * 60_000}, () => {
  let home: Dir;
  let work: Dir;
  let boxFile: string;

  before(async () => {
    home = await tempDir('box-vbox-home-');
    work = await tempDir('box-vbox-work-');
    boxFile = await makeFakeVirtualboxBox(path.join(work.dir, 'debian-vbox.box'));
    const added = await box(['box', 'add', 'debian-12-minimal', boxFile, '--box-version', '12.0.0'], {boxHome: home.dir});
    assert.equal(added.exitCode, 0, String(added.stderr));
    // A box whose disk went missing from the store after it was added (box box add itself
    // refuses a box without the disk its .ovf references).
    const damaged = await box(['box', 'add', 'damaged', boxFile, '--box-version', '1.0.0'], {boxHome: home.dir});
    assert.equal(damaged.exitCode, 0, String(damaged.stderr));
    await rm(path.join(home.dir, 'boxes', 'damaged', '1.0.0', 'virtualbox', 'box-disk001.vmdk'));
  });

  after(async () => {
    await work?.cleanup();
    await home?.cleanup();
  });

  /** A project folder with a virtualbox Boxfile, and its own fake VirtualBox. */
  async function project(settings: Record<string, unknown>, boot: 'none' | 'banner' = 'banner') {
    const dir = await mkdtemp(path.join(work.dir, 'project-'));
    const vboxHome = path.join(dir, '.fake-vbox');
    const doc = {basebox: 'debian-12-minimal', target: 'virtualbox', ssh: {insert_key: false, timeout: 60}, ...settings};
    await writeFile(path.join(dir, 'Boxfile'), YAML.stringify(doc));
    let env = fakeEnv(vboxHome, boot);
    return {
      dir, vboxHome,
      setEnv: (extra: Record<string, string>) => { env = fakeEnv(vboxHome, boot, extra); },
      run: (args: string[]) => box(args, {cwd: dir, boxHome: home.dir, env}),
      runJson: (args: string[]) => boxJson(args, {cwd: dir, boxHome: home.dir, env}),
      vbox: (args: string[]) => execa(path.join(fakeVBoxDir, 'VBoxManage'), args, {env: {FAKE_VBOX_HOME: vboxHome, FAKE_VBOX_BOOT: boot}, reject: false}),
      machineDir: (name = 'default') => path.join(dir, '.box', 'machines', name),
      state: async (name = 'default') => JSON.parse(await readFile(path.join(dir, '.box', 'machines', name, 'state.json'), 'utf8')),
    };
  }

  test('lifecycle with a linked clone: up, status, up again, halt (acpi), up, halt --force, destroy', async () => {
    const p = await project({targets: {virtualbox: {cpus: 1, memory: 600}}});
    const {result, json} = await p.runJson(['up']);
    assert.equal(result.exitCode, 0, `${result.stdout}\n${result.stderr}`);
    const m = json.machines[0];
    assert.equal(m.created, true);
    assert.equal(m.status, 'running');
    const state = await p.state();
    assert.equal(state.target, 'virtualbox');
    const {vmName, uuid, master, sshPort} = state.provider;
    assert.equal(m.ssh.port, sshPort);

    // What VirtualBox was asked, in order: a master imported once with its snapshot, a linked clone.
    const calls = fakeCalls(p.vboxHome).map((c) => c.argv);
    const importCall = calls.find((c) => c[0] === 'import')!;
    assert.deepEqual(importCall.slice(2), ['--vsys', '0', '--vmname', master]);
    assert.match(importCall[1], /box\.ovf$/);
    const order = (pred: (c: string[]) => boolean) => calls.findIndex(pred);
    assert.ok(order((c) => c[0] === 'snapshot' && c[2] === 'take' && c[3] === 'base') > order((c) => c[0] === 'import'));
    assert.ok(order((c) => c.join(' ') === `clonevm ${master} --snapshot base --options link --name ${vmName} --register`) > order((c) => c[0] === 'snapshot'));
    assert.ok(calls.some((c) => c.join(' ') === `modifyvm ${uuid} --natpf1 ssh,tcp,127.0.0.1,${sshPort},,22`));
    assert.ok(calls.some((c) => c.join(' ') === `startvm ${uuid} --type headless`));
    const vms = fakeVms(p.vboxHome);
    const vm = vms.find((v) => v.name === vmName)!;
    assert.equal(vm.state, 'running');
    assert.equal(vm.linkedFrom, vms.find((v) => v.name === master)!.uuid);
    assert.deepEqual([vm.cpus, vm.memory], [1, 600]);

    const st = await p.runJson(['status']);
    assert.equal(st.json.machines[0].status, 'running');
    assert.equal(st.json.machines[0].details.vmName, vmName);
    const cfg = await p.run(['ssh-config']);
    assert.match(String(cfg.stdout), new RegExp(`Port ${sshPort}\\b`));

    const again = await p.runJson(['up']);
    assert.equal(again.json.machines[0].created, false);
    assert.equal(fakeCalls(p.vboxHome).filter((c) => c.argv[0] === 'startvm').length, 1, 'a running machine is not started twice');

    const halted = await p.runJson(['halt']);
    assert.equal(halted.result.exitCode, 0, String(halted.result.stderr));
    assert.equal(halted.json.machines[0].stoppedBy, 'acpi');
    assert.equal(halted.json.machines[0].status, 'stopped');
    assert.ok(fakeCalls(p.vboxHome).some((c) => c.argv.join(' ') === `controlvm ${uuid} acpipowerbutton`));

    const up2 = await p.runJson(['up']);
    assert.equal(up2.result.exitCode, 0, String(up2.result.stderr));
    assert.equal(up2.json.machines[0].created, false);
    assert.equal((await p.state()).provider.uuid, uuid, 'the same VM is started again');
    assert.equal(fakeVms(p.vboxHome).filter((v) => v.name === vmName).length, 1);

    const forced = await p.runJson(['halt', '--force']);
    assert.equal(forced.json.machines[0].stoppedBy, 'kill');
    assert.ok(fakeCalls(p.vboxHome).some((c) => c.argv.join(' ') === `controlvm ${uuid} poweroff`));

    const destroyed = await p.runJson(['destroy', '--force']);
    assert.equal(destroyed.result.exitCode, 0, String(destroyed.result.stderr));
    assert.deepEqual(fakeVms(p.vboxHome).map((v) => v.name), [master], 'only the shared master is left, as with Vagrant');
    assert.ok(fakeCalls(p.vboxHome).some((c) => c.argv.join(' ') === `unregistervm ${uuid} --delete`));
    assert.equal(existsSync(path.join(p.dir, '.box')), false);
    assert.equal((await p.runJson(['status'])).json.machines[0].status, 'not-created');
    const again2 = await p.runJson(['destroy', '--force']);
    assert.equal(again2.result.exitCode, 0, 'destroy is idempotent');
  });

  test('suspend saves the VM\'s state (savestate), status says suspended, up and resume restore it; halt --force discards it', async () => {
    const p = await project({targets: {virtualbox: {cpus: 1, memory: 600}}});
    assert.equal((await p.run(['up'])).exitCode, 0);
    const {uuid} = (await p.state()).provider;
    const suspended = await p.runJson(['suspend']);
    assert.equal(suspended.result.exitCode, 0, String(suspended.result.stderr));
    assert.deepEqual([suspended.json.machines[0].suspended, suspended.json.machines[0].status, suspended.json.machines[0].method], [true, 'suspended', 'savestate']);
    assert.ok(fakeCalls(p.vboxHome).some((c) => c.argv.join(' ') === `controlvm ${uuid} savestate`));
    assert.equal((await p.runJson(['status'])).json.machines[0].status, 'suspended');
    const halt = await p.runJson(['halt']);
    assert.equal(halt.json.machines[0].status, 'suspended', 'a plain halt keeps the saved state');
    const resumed = await p.runJson(['resume']);
    assert.equal(resumed.result.exitCode, 0, String(resumed.result.stderr));
    assert.deepEqual([resumed.json.machines[0].resumed, resumed.json.machines[0].status], [true, 'running']);
    const modifies = fakeCalls(p.vboxHome).filter((c) => c.argv[0] === 'modifyvm').length;
    assert.equal((await p.run(['halt', '--suspend'])).exitCode, 0);
    const up = await p.runJson(['up']);
    assert.equal(up.json.machines[0].resumed, true);
    assert.equal(fakeCalls(p.vboxHome).filter((c) => c.argv[0] === 'modifyvm').length, modifies, 'a saved VM is started as it was saved, not reconfigured');
    assert.equal((await p.run(['suspend'])).exitCode, 0);
    const forced = await p.runJson(['halt', '--force']);
    assert.equal(forced.json.machines[0].status, 'stopped');
    assert.ok(fakeCalls(p.vboxHome).some((c) => c.argv.join(' ') === `discardstate ${uuid}`));
    const again = await p.runJson(['suspend']);
    assert.equal(again.result.exitCode, 1);
    assert.equal(again.json.error.code, 'ERR_NOT_RUNNING');
    assert.equal((await p.runJson(['destroy', '--force'])).result.exitCode, 0);
  });

  test('a showvminfo that fails while box waits for SSH (VBoxSVC busy) is not a stopped VM: the up waits on and succeeds', async () => {
    const p = await project({targets: {virtualbox: {cpus: 1, memory: 600}}});
    p.setEnv({FAKE_VBOX_BUSY_AFTER_START: '1'});
    const up = await p.runJson(['up']);
    assert.equal(up.result.exitCode, 0, String(up.result.stderr));
    assert.equal(up.json.machines[0].status, 'running');
    // The failing call was the SSH wait's check of the VM (the first showvminfo after startvm).
    const calls = fakeCalls(p.vboxHome);
    const afterStart = calls[calls.findIndex((c) => c.argv[0] === 'startvm') + 1];
    assert.deepEqual([afterStart?.argv[0], afterStart?.exitCode], ['showvminfo', 1]);
    assert.equal((await p.vbox(['showvminfo', (await p.state()).provider.uuid, '--machinereadable'])).exitCode, 0, 'only the first call after startvm failed');
    assert.equal((await p.runJson(['destroy', '--force'])).result.exitCode, 0);
  });

  test('full import with forwarded ports; a guest ignoring ACPI is powered off after --timeout', async () => {
    const p = await project({targets: {virtualbox: {linked_clone: false, cpus: 2, memory: 700}}, forwarded_ports: [{guest: 80, host: 18080}]});
    const {result} = await p.runJson(['up']);
    assert.equal(result.exitCode, 0, String(result.stderr));
    const {vmName, uuid, sshPort} = (await p.state()).provider;
    const calls = fakeCalls(p.vboxHome).map((c) => c.argv.join(' '));
    assert.ok(calls.some((c) => /^import \S+box\.ovf --vsys 0 --vmname /.test(c) && c.endsWith(`--vmname ${vmName} --cpus 2 --memory 700`)), calls.join('\n'));
    assert.ok(!calls.some((c) => c.startsWith('clonevm')));
    const [vm] = fakeVms(p.vboxHome);
    assert.deepEqual(vm.nat.map((r) => `${r.name}:${r.hostIp}:${r.hostPort}->${r.guestPort}`), [`ssh:127.0.0.1:${sshPort}->22`, 'tcp18080:127.0.0.1:18080->80']);

    p.setEnv({FAKE_VBOX_ACPI: 'ignore'});
    const t0 = Date.now();
    const halted = await p.runJson(['halt', '--timeout', '2']);
    assert.equal(halted.result.exitCode, 0, String(halted.result.stderr));
    assert.equal(halted.json.machines[0].stoppedBy, 'kill');
    assert.match(String(halted.result.stderr), /did not shut down within 2 s; powering the VM off/);
    assert.ok(Date.now() - t0 >= 2000);
    const tail = fakeCalls(p.vboxHome).slice(-12).map((c) => c.argv.join(' '));
    assert.ok(tail.indexOf(`controlvm ${uuid} poweroff`) > tail.indexOf(`controlvm ${uuid} acpipowerbutton`));

    // Rules of the last boot are replaced, not duplicated, on the next boot.
    p.setEnv({});
    assert.equal((await p.runJson(['up'])).result.exitCode, 0);
    assert.equal(fakeVms(p.vboxHome)[0].nat.length, 2);
    // up on the running machine: its own guest holds 18080, which is no collision.
    const noop = await p.runJson(['up']);
    assert.equal(noop.result.exitCode, 0, String(noop.result.stdout));
    assert.equal(noop.json.machines[0].created, false);

    // The VM disappears behind box's back: status says broken and how to repair.
    await p.vbox(['controlvm', vmName, 'poweroff']);
    await p.vbox(['unregistervm', vmName, '--delete']);
    const st = await p.runJson(['status']);
    assert.equal(st.json.machines[0].status, 'broken');
    assert.match(st.json.machines[0].reason, new RegExp(`no VM ${vmName}`));
    assert.equal(st.json.machines[0].repair, 'box destroy default');
    const up = await p.runJson(['up']);
    assert.equal(up.result.exitCode, 1);
    assert.equal(up.json.error.code, 'ERR_MACHINE_BROKEN');
    assert.equal((await p.runJson(['destroy', '--force'])).result.exitCode, 0);
    assert.equal(existsSync(path.join(p.dir, '.box')), false);
  });

  test('a VBoxManage failure surfaces VirtualBox\'s own message, and the failed up leaves nothing registered', async () => {
    const p = await project({targets: {virtualbox: {linked_clone: false}}});
    p.setEnv({FAKE_VBOX_NO_VTX: '1'});
    const {result, json} = await p.runJson(['up']);
    assert.equal(result.exitCode, 1);
    assert.equal(json.error.code, 'ERR_VBOX_NO_HWVIRT');
    assert.match(json.error.message, /VBoxManage startvm failed \(exit 1\): VT-x is not available \(VERR_VMX_NO_VMX\)/);
    assert.match(json.error.hint, /VT-x\/AMD-V/);
    assert.deepEqual(fakeVms(p.vboxHome), [], 'the imported VM was unregistered');
    assert.ok(fakeCalls(p.vboxHome).some((c) => c.argv[0] === 'unregistervm' && c.argv.includes('--delete') && c.exitCode === 0));
    assert.equal(existsSync(path.join(p.dir, '.box')), false);
  });

  test('a box whose .ovf names a missing disk fails at import with VirtualBox\'s message', async () => {
    const p = await project({basebox: 'damaged', targets: {virtualbox: {linked_clone: false}}});
    const {result, json} = await p.runJson(['up']);
    assert.equal(result.exitCode, 1);
    assert.equal(json.error.code, 'ERR_VBOX_FILE');
    assert.match(json.error.message, /Could not find file for the medium '.*box-disk001\.vmdk' \(VERR_FILE_NOT_FOUND\)/);
    assert.match(json.error.hint, /remove and add it again/);
    assert.deepEqual(fakeVms(p.vboxHome), []);
    assert.equal(existsSync(path.join(p.dir, '.box')), false);
  });

  test('Ctrl-C while waiting for SSH powers the new VM off and unregisters it (exit 130)', async () => {
    const p = await project({targets: {virtualbox: {linked_clone: false}}}, 'none');
    const child = execa(process.execPath, [boxBin, 'up'], {cwd: p.dir, env: {BOX_HOME: home.dir, NO_COLOR: '1', ...fakeEnv(p.vboxHome, 'none')}, reject: false});
    await waitFor('startvm', () => fakeCalls(p.vboxHome).some((c) => c.argv[0] === 'startvm' && c.exitCode === 0));
    await new Promise((r) => setTimeout(r, 500));
    child.kill('SIGINT');
    const result = await child;
    assert.equal(result.exitCode, 130, String(result.stderr));
    assert.deepEqual(fakeVms(p.vboxHome), []);
    const calls = fakeCalls(p.vboxHome).map((c) => c.argv[0]);
    assert.ok(calls.lastIndexOf('unregistervm') > calls.lastIndexOf('controlvm'), calls.join(' '));
    assert.equal(existsSync(path.join(p.dir, '.box')), false);
  });

  test('a machine whose import never finished (box killed) is broken, and destroy removes what the import left', async () => {
    const p = await project({targets: {virtualbox: {linked_clone: false}}}, 'none');
    // Its own process group, so the kill takes VBoxManage with it as closing a terminal would.
    const child = execa(process.execPath, [boxBin, 'up'], {cwd: p.dir, env: {BOX_HOME: home.dir, NO_COLOR: '1', ...fakeEnv(p.vboxHome, 'none', {FAKE_VBOX_IMPORT_DELAY_MS: '60000'})}, reject: false, detached: true});
    await waitFor('the VM name recorded', () => existsSync(path.join(p.machineDir(), 'state.json')));
    await new Promise((r) => setTimeout(r, 1000));
    process.kill(-child.pid!, 'SIGKILL');
    await child;
    const {provider} = await p.state();
    assert.equal(provider.phase, 'creating');
    assert.equal(provider.uuid, undefined);
    assert.deepEqual(fakeVms(p.vboxHome), [], 'the import was cut short');

    const st = await p.runJson(['status']);
    assert.equal(st.json.machines[0].status, 'broken');
    assert.match(st.json.machines[0].reason, /half created/);
    assert.equal(st.json.machines[0].repair, 'box destroy default');

    // Had the import completed after the crash, the VM would be registered under the recorded name.
    const late = await p.vbox(['import', provider.ovf, '--vsys', '0', '--vmname', provider.vmName]);
    assert.equal(late.exitCode, 0, String(late.stderr));
    const destroyed = await p.runJson(['destroy', '--force']);
    assert.equal(destroyed.result.exitCode, 0, String(destroyed.result.stderr));
    assert.deepEqual(fakeVms(p.vboxHome), []);
    assert.ok(fakeCalls(p.vboxHome).some((c) => c.argv.join(' ') === `unregistervm ${provider.vmName} --delete`));
    assert.equal(existsSync(path.join(p.dir, '.box')), false);
  });

  test('user_data reaches the guest on a cidata DVD of box\'s own controller, made again at each boot; destroy detaches and forgets it', async () => {
    const p = await project({user_data: '#cloud-config\nwrite_files: [{path: /etc/box-vbox.txt, content: one}]\n', cloud_init: {meta_data: {region: 'lab'}}});
    const iso = path.join(p.machineDir(), 'cidata.iso');
    /** The ISO's files, read back with xorriso (what the guest's cloud-init would mount). */
    const seedFiles = async () => {
      const into = await mkdtemp(path.join(work.dir, 'iso-'));
      await execa('xorriso', ['-osirrox', 'on', '-indev', iso, '-extract', '/', into]);
      const read = async (name: string) => readFile(path.join(into, name), 'utf8');
      return {userData: await read('user-data'), metaData: YAML.parse(await read('meta-data')) as Record<string, string>};
    };
    const media = async () => (JSON.parse(await readFile(path.join(p.vboxHome, 'state.json'), 'utf8')) as {media?: Array<{path: string}>}).media ?? [];

    const up = await p.runJson(['up']);
    assert.equal(up.result.exitCode, 0, `${up.result.stdout}\n${up.result.stderr}`);
    const state = await p.state();
    assert.equal(state.provider.cloudInitSeed, iso);
    const seed = await seedFiles();
    assert.equal(seed.userData, '#cloud-config\nwrite_files: [{path: /etc/box-vbox.txt, content: one}]\n');
    assert.deepEqual(seed.metaData, {'instance-id': state.provider.cloudInitInstanceId, 'local-hostname': 'default', region: 'lab'});
    const info = String((await p.vbox(['showvminfo', state.provider.uuid, '--machinereadable'])).stdout);
    assert.match(info, /^storagecontrollername1="box cloud-init"$/m);
    assert.ok(info.includes(`"box cloud-init-0-0"="${iso}"`), info);
    // Attached while the VM was powered off, before it started.
    const verbs = fakeCalls(p.vboxHome).map((c) => c.argv[0]);
    assert.ok(verbs.indexOf('storagectl') < verbs.indexOf('storageattach') && verbs.lastIndexOf('storageattach') < verbs.indexOf('startvm'), verbs.join(' '));
    assert.deepEqual((await media()).map((m) => m.path), [iso]);

    // An edited user_data is on the DVD at the next boot, under the same instance-id, on the same controller.
    assert.equal((await p.run(['halt', '--force'])).exitCode, 0);
    await writeFile(path.join(p.dir, 'Boxfile'), YAML.stringify({basebox: 'debian-12-minimal', target: 'virtualbox', ssh: {insert_key: false, timeout: 60}, user_data: '#cloud-config\n{}\n'}));
    const again = await p.run(['up']);
    assert.equal(again.exitCode, 0, String(again.stderr));
    assert.equal((await seedFiles()).userData, '#cloud-config\n{}\n');
    assert.equal((await seedFiles()).metaData['instance-id'], state.provider.cloudInitInstanceId);
    assert.equal(fakeCalls(p.vboxHome).filter((c) => c.argv[0] === 'storagectl').length, 1, 'the controller is added once');

    const destroyed = await p.run(['destroy', '--force']);
    assert.equal(destroyed.exitCode, 0, String(destroyed.stderr));
    assert.deepEqual(fakeVms(p.vboxHome).filter((vm) => vm.name === state.provider.vmName), []);
    assert.deepEqual(await media(), [], 'the seed is no longer in VirtualBox\'s media registry');
    assert.equal(existsSync(iso), false);
  });

  test('a Boxfile that drops its user_data: the next boot removes the DVD controller and the seed', async () => {
    const p = await project({user_data: '#cloud-config\n{}\n'});
    assert.equal((await p.run(['up'])).exitCode, 0);
    const {uuid} = (await p.state()).provider;
    assert.equal((await p.run(['halt', '--force'])).exitCode, 0);
    await writeFile(path.join(p.dir, 'Boxfile'), YAML.stringify({basebox: 'debian-12-minimal', target: 'virtualbox', ssh: {insert_key: false, timeout: 60}}));
    const up = await p.run(['up']);
    assert.equal(up.exitCode, 0, String(up.stderr));
    const info = String((await p.vbox(['showvminfo', uuid, '--machinereadable'])).stdout);
    assert.doesNotMatch(info, /box cloud-init/);
    assert.equal(existsSync(path.join(p.machineDir(), 'cidata.iso')), false);
    assert.equal((await p.state()).provider.cloudInitSeed, undefined);
    assert.equal((await p.run(['destroy', '--force'])).exitCode, 0);
  });

  test('doctor reports the VBoxManage version it found, and where', async () => {
    const {json} = await boxJson(['doctor'], {boxHome: home.dir, env: {VBOX_MANAGE: path.join(fakeVBoxDir, 'VBoxManage'), FAKE_VBOX_HOME: path.join(work.dir, 'doctor-vbox')}});
    const vbox = json.targets.find((t: {target: string}) => t.target === 'virtualbox');
    assert.equal(vbox.usable, true);
    assert.equal(vbox.summary, 'VirtualBox 7.0.14r161095');
    assert.match(vbox.checks[0].detail, /^7\.0\.14r161095 \(.*fake-vboxmanage\/VBoxManage\)$/);
    const {json: missing} = await boxJson(['doctor'], {boxHome: home.dir, env: {VBOX_MANAGE: '/nonexistent/VBoxManage'}});
    assert.equal(missing.targets.find((t: {target: string}) => t.target === 'virtualbox').usable, false);
  });
});
