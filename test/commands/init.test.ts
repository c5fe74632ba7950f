import assert from 'node:assert/strict';
import {existsSync} from 'node:fs';
import {mkdir, readFile, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {box, boxJson, tempDir} from '../helpers/cli.js';

describe('box init', () => {
  let dir: string;
  let home: string;
  let cleanup: () => Promise<void>;

  before(async () => {
    ({dir, cleanup} = await tempDir('box-init-'));
    home = path.join(dir, '.home');
  });
  after(() => cleanup());

  test('writes a commented Boxfile that validates, and reports it as JSON', async () => {
    const cwd = path.join(dir, 'fresh');
    await mkdir(cwd);
    const {result, json} = await boxJson(['init'], {cwd, boxHome: home});
    assert.equal(result.exitCode, 0, result.stderr);
    // A folder that does not install box: the schema of the box that runs (this checkout).
    const installed = path.resolve(import.meta.dirname, '..', '..', 'schemas', 'boxfile.schema.json');
    assert.deepEqual(json, {boxfile: path.join(cwd, 'Boxfile'), basebox: 'debian-12-minimal', target: 'qemu', schema: installed});

    const text = await readFile(path.join(cwd, 'Boxfile'), 'utf8');
    const schema = /^# yaml-language-server: \$schema=(.+)$/m.exec(text)?.[1];
    assert.equal(schema, installed);
    assert.ok(text.split('\n').filter((l) => l.trimStart().startsWith('#')).length > 20, 'the Boxfile is commented');

    const validated = await boxJson(['validate'], {cwd, boxHome: home});
    assert.equal(validated.result.exitCode, 0, validated.result.stdout);
    assert.equal(validated.json.project, 'fresh');
    assert.deepEqual(validated.json.machines.map((m: {name: string; target: string; basebox: {raw: string}}) => [m.name, m.target, m.basebox.raw]), [['default', 'qemu', 'debian-12-minimal']]);
  });

  test('--basebox and --target are written into the Boxfile', async () => {
    const cwd = path.join(dir, 'custom');
    await mkdir(cwd);
    const {result, json} = await boxJson(['init', '--basebox', 'debian-12@>= 1.0, < 2', '--target', 'aws'], {cwd, boxHome: home});
    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(json.target, 'aws');
    assert.match(await readFile(path.join(cwd, 'Boxfile'), 'utf8'), /^basebox: "debian-12@>= 1\.0, < 2"$/m);
    // An aws machine needs to know who may reach SSH before `up` creates anything: validate says so, as up would.
    const validated = await boxJson(['validate'], {cwd, boxHome: home});
    assert.equal(validated.result.exitCode, 2, validated.result.stdout);
    assert.equal(validated.json.error.code, 'ERR_AWS_SSH_CIDR');
    assert.equal(validated.json.error.details.errors[0].path, 'targets.aws.ssh_cidr');
  });

  test('--target kvm writes target: kvm, which validates as qemu with KVM required', async () => {
    const cwd = path.join(dir, 'kvm');
    await mkdir(cwd);
    const {result} = await boxJson(['init', '--target', 'kvm'], {cwd, boxHome: home});
    assert.equal(result.exitCode, 0, result.stderr);
    const text = await readFile(path.join(cwd, 'Boxfile'), 'utf8');
    assert.match(text, /^target: kvm$/m);
    assert.doesNotMatch(text, /^\s+accel:/m);
    const validated = await boxJson(['validate'], {cwd, boxHome: home});
    assert.equal(validated.result.exitCode, 0, validated.result.stdout);
    assert.deepEqual([validated.json.machines[0].target, validated.json.machines[0].targetAlias, validated.json.machines[0].qemu.accel], ['qemu', 'kvm', 'kvm']);
  });

  test('in a project that installs box, $schema is relative to the Boxfile and holds in any checkout', async () => {
    const project = path.join(dir, 'shop');
    const cwd = path.join(project, 'services', 'api');
    await mkdir(path.join(project, 'node_modules', 'box-cli', 'schemas'), {recursive: true});
    await writeFile(path.join(project, 'node_modules', 'box-cli', 'schemas', 'boxfile.schema.json'), '{}');
    await mkdir(cwd, {recursive: true});
    const {result, json} = await boxJson(['init'], {cwd, boxHome: home});
    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(json.schema, '../../node_modules/box-cli/schemas/boxfile.schema.json');
    assert.match(await readFile(path.join(cwd, 'Boxfile'), 'utf8'), /^# yaml-language-server: \$schema=\.\.\/\.\.\/node_modules\/box-cli\/schemas\/boxfile\.schema\.json$/m);
  });

  test('refuses to overwrite an existing Boxfile without --force, and replaces it with --force', async () => {
    const cwd = path.join(dir, 'existing');
    await mkdir(cwd);
    await writeFile(path.join(cwd, 'Boxfile'), 'basebox: mine\n');

    const refused = await box(['init'], {cwd, boxHome: home});
    assert.equal(refused.exitCode, 2);
    assert.match(refused.stderr, /Boxfile already exists; box init does not overwrite it/);
    assert.match(refused.stderr, /--force/);
    assert.equal(await readFile(path.join(cwd, 'Boxfile'), 'utf8'), 'basebox: mine\n');

    const refusedJson = await boxJson(['init'], {cwd, boxHome: home});
    assert.equal(refusedJson.result.exitCode, 2);
    assert.equal(refusedJson.json.error.code, 'ERR_BOXFILE_EXISTS');

    const forced = await box(['init', '--force'], {cwd, boxHome: home});
    assert.equal(forced.exitCode, 0, forced.stderr);
    assert.match(await readFile(path.join(cwd, 'Boxfile'), 'utf8'), /^basebox: debian-12-minimal$/m);
  });

  test('a bad --basebox or --target is a usage error and writes nothing', async () => {
    const cwd = path.join(dir, 'bad');
    await mkdir(cwd);
    const badBox = await boxJson(['init', '--basebox', 'debian 12'], {cwd, boxHome: home});
    assert.equal(badBox.result.exitCode, 2);
    assert.equal(badBox.json.error.code, 'ERR_BAD_BASEBOX');
    const badTarget = await box(['init', '--target', 'vmware'], {cwd, boxHome: home});
    assert.equal(badTarget.exitCode, 2);
    assert.equal(existsSync(path.join(cwd, 'Boxfile')), false);
  });
});
