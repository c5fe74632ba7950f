import assert from 'node:assert/strict';
import {readFile, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {box, boxJson, repoRoot, tempDir} from '../helpers/cli.js';
import {preloadEnv} from '../helpers/preload.js';

// Issue 11's acceptance test: a target and a provisioner registered from test code only
// (testbed-plugin.mjs, preloaded into the built CLI) are reached by validate, doctor, up and
// provision, with no source change.
const plugin = path.join(repoRoot, 'test', 'plugins', 'testbed-plugin.mjs');
const env = preloadEnv(plugin);

const BOXFILE = `name: plug
basebox: debian-12
target: testbed
targets:
  testbed: {lanes: 3}
provisioners:
  - {type: note, text: hello, log: notes.jsonl}
`;

describe('plug-in target and provisioner from test code', () => {
  let dir: string;
  let home: string;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({dir, cleanup} = await tempDir('box-plugins-'));
    home = path.join(dir, 'home');
    await writeFile(path.join(dir, 'Boxfile'), BOXFILE);
  });
  after(async () => {
    await box(['destroy', '--force'], {cwd: dir, boxHome: home, env});
    await cleanup();
  });

  test('box validate accepts the target, its settings, its alias and the provisioner, and rejects their typos', async () => {
    const {result, json} = await boxJson(['validate'], {cwd: dir, boxHome: home, env});
    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(json.machines[0].target, 'testbed');
    assert.deepEqual(json.machines[0].targetSettings, {lanes: 3});
    assert.deepEqual(json.machines[0].provisioners, [{type: 'note', text: 'hello', log: path.join(dir, 'notes.jsonl')}]);
    const alias = await boxJson(['validate', '--target', 'bench'], {cwd: dir, boxHome: home, env});
    assert.equal(alias.json.machines[0].target, 'testbed');
    const bad = path.join(dir, 'Boxfile.bad');
    await writeFile(bad, BOXFILE.replace('lanes: 3', 'lanez: 3').replace('text: hello', 'txt: hello'));
    const invalid = await boxJson(['validate', '--boxfile', bad], {cwd: dir, boxHome: home, env});
    assert.equal(invalid.result.exitCode, 2);
    const messages = invalid.json.error.details.errors.map((e: {path: string; message: string}) => `${e.path}: ${e.message}`);
    assert.ok(messages.includes('targets.testbed.lanez: unknown key (did you mean lanes?)'), messages.join('\n'));
    assert.ok(messages.some((m: string) => m.startsWith('provisioners[0].')), messages.join('\n'));
    // Without the plug-in, the same Boxfile is refused: nothing in src/ knows testbed.
    const plain = await boxJson(['validate'], {cwd: dir, boxHome: home});
    assert.equal(plain.result.exitCode, 2);
    assert.deepEqual(plain.json.error.details.errors.map((e: {path: string; message: string}) => `${e.path}: ${e.message}`), [
      'target: expected one of qemu, virtualbox, aws, kvm, libvirt',
      'targets.testbed: unknown key; allowed here: qemu, virtualbox, aws',
      'provisioners[0].type: expected one of shell, file, ansible, ansible_local, puppet, chef_solo, chef_zero',
    ]);
  });

  test('a large Boxfile, loaded in a worker thread (which runs the --import preloads too), knows the plug-ins', async () => {
    const big = path.join(dir, 'Boxfile.big');
    await writeFile(big, BOXFILE + `# ${'padding '.repeat(40)}\n`.repeat(4000));
    const {result, json} = await boxJson(['validate', '--boxfile', big], {cwd: dir, boxHome: home, env});
    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(json.machines[0].target, 'testbed');
    assert.deepEqual(json.machines[0].provisioners, [{type: 'note', text: 'hello', log: path.join(dir, 'notes.jsonl')}]);
  });

  test('box doctor --json reports the plug-in target with the project', async () => {
    const {result, json} = await boxJson(['doctor'], {cwd: dir, boxHome: home, env: {...env, AWS_EC2_METADATA_DISABLED: 'true'}});
    assert.equal(result.exitCode, 0, result.stderr);
    assert.deepEqual(json.targets.map((t: {target: string}) => t.target), ['qemu', 'virtualbox', 'aws', 'testbed']);
    assert.deepEqual(json.targets[3], {target: 'testbed', usable: true, summary: 'in test code', checks: [{name: 'testbed', ok: true, detail: 'project plug'}]});
  });

  test('box up creates the machine through the plug-in provider and runs the plug-in provisioner; box provision runs it again', async () => {
    const upped = await boxJson(['up'], {cwd: dir, boxHome: home, env});
    assert.equal(upped.result.exitCode, 0, upped.result.stderr);
    assert.equal(upped.json.machines[0].target, 'testbed');
    assert.equal(upped.json.machines[0].created, true);
    assert.equal(upped.json.machines[0].ranProvisioners, true);
    assert.deepEqual(upped.json.machines[0].details, {lanes: 3});
    const machineDir = path.join(dir, '.box', 'machines', 'default');
    assert.deepEqual(JSON.parse(await readFile(path.join(machineDir, 'testbed-vm.json'), 'utf8')), {running: true, settings: {lanes: 3}});
    const provisioned = await box(['provision'], {cwd: dir, boxHome: home, env});
    assert.equal(provisioned.exitCode, 0, provisioned.stderr);
    const notes = (await readFile(path.join(dir, 'notes.jsonl'), 'utf8')).trim().split('\n').map((line) => JSON.parse(line));
    const ssh = {host: '127.0.0.1', port: 2299, username: 'tester', privateKeyPath: '/dev/null'};
    assert.deepEqual(notes, [{text: 'hello', machine: 'default', ssh}, {text: 'hello', machine: 'default', ssh}]);
    const guest = (await readFile(path.join(machineDir, 'fake-ssh.log'), 'utf8')).trim().split('\n').map((line) => JSON.parse(line));
    const commands = guest.filter((e: {op: string}) => e.op === 'exec').map((e: {command: string}) => e.command);
    // The first: box up's cloud-init probe, generic for every target (this guest has none).
    assert.match(commands[0], /^command -v 'cloud-init' /);
    assert.deepEqual(commands.slice(1), ['echo hello', 'echo hello']);
  });
});
