/**
 * `box snapshot` on the virtualbox target through the built CLI, against the stateful fake
 * VBoxManage (its "banner" guest answers SSH): what box tells the user, and what VirtualBox
 * was asked (the fake's call log) and holds (its state). Clones (`box up NEW --from`) too: they
 * are made from a machine's VM or one of its snapshots.
 */
import assert from 'node:assert/strict';
import {existsSync} from 'node:fs';
import {mkdtemp, readFile, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import YAML from 'yaml';
import {box, boxJson, said, tempDir} from '../../helpers/cli.js';
import {fakeCalls, fakeEnv, fakeVms, makeFakeVirtualboxBox} from './fake-vbox.js';

describe('box snapshot and clones on the virtualbox target (fake VBoxManage)', {timeout: 5 * 60_000}, () => {
  let home: Awaited<ReturnType<typeof tempDir>>;
  let work: Awaited<ReturnType<typeof tempDir>>;
  let dir: string;
  let vboxHome: string;
  const run = (args: string[]) => box(args, {cwd: dir, boxHome: home.dir, env: fakeEnv(vboxHome, 'banner')});
  const runJson = (args: string[]) => boxJson(args, {cwd: dir, boxHome: home.dir, env: fakeEnv(vboxHome, 'banner')});
  const snapshotCalls = () => fakeCalls(vboxHome).filter((c) => c.argv[0] === 'snapshot' && !c.argv[1]!.includes('master')).map((c) => [c.argv[2], c.argv[3], ...c.argv.slice(4)].join(' '));
  const vm = () => fakeVms(vboxHome).find((v) => !v.name.includes('master'))!;

  before(async () => {
    home = await tempDir('box-vbox-snap-home-');
    work = await tempDir('box-vbox-snap-');
    const boxFile = await makeFakeVirtualboxBox(path.join(work.dir, 'vbox.box'));
    assert.equal((await box(['box', 'add', 'debian-12-minimal', boxFile, '--box-version', '12.0.0'], {boxHome: home.dir})).exitCode, 0);
    dir = await mkdtemp(path.join(work.dir, 'project-'));
    vboxHome = path.join(dir, '.fake-vbox');
    await writeFile(path.join(dir, 'Boxfile'), YAML.stringify({basebox: 'debian-12-minimal', target: 'virtualbox', ssh: {insert_key: false, timeout: 60}}));
    const up = await run(['up']);
    assert.equal(up.exitCode, 0, String(up.stderr));
  });
  after(async () => {
    await run(['destroy', '--force']);
    await work?.cleanup();
    await home?.cleanup();
  });

  test('running: save takes a live snapshot; restore powers off, restores (saved state) and resumes it', async () => {
    const saved = await runJson(['snapshot', 'save', 's1']);
    assert.equal(saved.result.exitCode, 0, said(saved.result));
    assert.equal(saved.json.machines[0].snapshot.withMemory, true);
    assert.deepEqual(vm().snapshots.map((s) => s.name), ['s1']);
    const restored = await runJson(['snapshot', 'restore', 's1']);
    assert.equal(restored.result.exitCode, 0, said(restored.result));
    assert.equal(restored.json.machines[0].live, true);
    assert.equal(vm().state, 'running');
    const uuid = saved.json.machines[0].snapshot.details.uuid;
    assert.deepEqual(snapshotCalls(), ['take s1 --live', `restore ${uuid}`]);
    const controls = fakeCalls(vboxHome).filter((c) => c.argv[0] === 'controlvm').map((c) => c.argv[2]);
    assert.deepEqual(controls, ['poweroff'], 'the running VM was powered off before the restore');
  });

  test('halted: save is offline; restore of the live one leaves the VM saved and says box up resumes it; list and delete', async () => {
    assert.equal((await run(['halt'])).exitCode, 0);
    const saved = await runJson(['snapshot', 'save', 'h1']);
    assert.equal(saved.json.machines[0].snapshot.withMemory, false);
    const restored = await runJson(['snapshot', 'restore', 's1']);
    assert.equal(restored.result.exitCode, 0, said(restored.result));
    assert.match(restored.json.machines[0].note, /box up` resumes it/);
    assert.equal(vm().state, 'saved');
    const list = await runJson(['snapshot', 'list']);
    assert.deepEqual(list.json.machines[0].snapshots.map((s: {name: string; withMemory: boolean}) => `${s.name}:${s.withMemory}`), ['s1:true', 'h1:false']);
    assert.ok(list.json.machines[0].snapshots.every((s: {createdAt?: string}) => typeof s.createdAt === 'string'));
    const unknown = await runJson(['snapshot', 'restore', 'nope']);
    assert.equal(unknown.result.exitCode, 2);
    assert.match(unknown.json.error.message, /it has s1, h1/);
    assert.equal((await run(['snapshot', 'delete', 's1'])).exitCode, 0);
    assert.equal((await run(['snapshot', 'delete', 'h1'])).exitCode, 0);
    assert.deepEqual(vm().snapshots, []);
    assert.deepEqual((await runJson(['snapshot', 'list'])).json.machines[0].snapshots, []);
    const up = await run(['up']);
    assert.equal(up.exitCode, 0, String(up.stderr));
    assert.equal(vm().state, 'running');
  });

  test('clones: a full clone of a live snapshot (its saved memory discarded) and of the halted VM; each has its own VM, disk and port, and outlives its source', async () => {
    const state = async (name: string) => JSON.parse(await readFile(path.join(dir, '.box', 'machines', name, 'state.json'), 'utf8'));
    const source = await state('default');
    assert.equal((await run(['snapshot', 'save', 'c1'])).exitCode, 0);

    const fromSnapshot = await runJson(['up', 'copy', '--from', 'default@c1']);
    assert.equal(fromSnapshot.result.exitCode, 0, said(fromSnapshot.result));
    const copy = await state('copy');
    assert.deepEqual(copy.cloneOf, {machine: 'default', snapshot: 'c1'});
    assert.notEqual(copy.provider.sshPort, source.provider.sshPort);
    const calls = fakeCalls(vboxHome).map((c) => c.argv.join(' '));
    const cloneAt = calls.indexOf(`clonevm ${source.provider.uuid} --snapshot c1 --name ${copy.provider.vmName} --register`);
    assert.ok(cloneAt >= 0, calls.join('\n'));
    assert.ok(calls.indexOf(`discardstate ${copy.provider.vmName}`) > cloneAt, 'the live snapshot\'s memory (the source\'s running guest) is not resumed in the clone');
    const copyVm = fakeVms(vboxHome).find((v) => v.name === copy.provider.vmName)!;
    assert.equal(copyVm.state, 'running');
    assert.equal(copyVm.linkedFrom, undefined, 'a full clone: no differencing disk on the source\'s snapshot');
    assert.notEqual(copyVm.disk, vm().disk);

    const running = await runJson(['up', 'copy2', '--from', 'default']);
    assert.equal(running.result.exitCode, 2);
    assert.equal(running.json.error.code, 'ERR_CLONE_SOURCE_RUNNING');
    const missing = await runJson(['up', 'copy2', '--from', 'default@nope']);
    assert.equal(missing.result.exitCode, 2);
    assert.match(missing.json.error.message, /no snapshot "nope"/);
    assert.match(missing.json.error.hint, /Its snapshots: c1/);
    assert.equal(existsSync(path.join(dir, '.box', 'machines', 'copy2')), false, 'nothing of the refused clone is left');

    assert.equal((await run(['halt', 'default'])).exitCode, 0);
    const fromHalted = await runJson(['up', 'copy2', '--from', 'default']);
    assert.equal(fromHalted.result.exitCode, 0, said(fromHalted.result));
    const copy2 = await state('copy2');
    assert.deepEqual(copy2.cloneOf, {machine: 'default'});
    assert.ok(fakeCalls(vboxHome).some((c) => c.argv.join(' ') === `clonevm ${source.provider.uuid} --name ${copy2.provider.vmName} --register`));

    // The source goes; its clones run on.
    assert.equal((await run(['destroy', '--force', 'default'])).exitCode, 0);
    const status = await runJson(['status', 'copy', 'copy2']);
    assert.deepEqual(status.json.machines.map((m: {name: string; status: string}) => `${m.name}:${m.status}`), ['copy:running', 'copy2:running']);
    assert.equal((await run(['destroy', '--force', 'copy', 'copy2'])).exitCode, 0);
    assert.deepEqual(fakeVms(vboxHome).filter((v) => !v.name.includes('master')), []);
  });
});
