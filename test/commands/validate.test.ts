import assert from 'node:assert/strict';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {box, boxJson, tempDir} from '../helpers/cli.js';
import {writeFiles} from '../boxfile/helpers.js';

// Runs the built CLI (npm test builds first), as a user would.
describe('box validate', () => {
  let dir: string;
  let home: string;
  let cleanup: () => Promise<void>;

  before(async () => {
    ({dir, cleanup} = await tempDir('box-validate-'));
    home = path.join(dir, 'home');
    await writeFiles(dir, {
      'good/Boxfile': 'name: shop\nbasebox: "debian-12@>= 1.0, < 2"\nmachines:\n  web: {forwarded_ports: [{guest: 80, host: 8080}]}\n  db: {target: virtualbox}\nenvironments:\n  prod: {target: aws, targets: {aws: {ssh_cidr: 203.0.113.4/32}}}\n',
      'bad/Boxfile': 'basebox: debian-12\ntarget: qemuu\ntargets:\n  qemu: {cpu: 2}\n',
    });
  });
  after(() => cleanup());

  test('a valid Boxfile prints a summary per machine and exits 0', async () => {
    const result = await box(['validate'], {cwd: path.join(dir, 'good'), boxHome: home});
    assert.equal(result.exitCode, 0, result.stderr);
    assert.match(result.stdout, /Boxfile is valid: project shop, 2 machines/);
    assert.match(result.stdout, /web\s+target qemu\s+basebox debian-12@>= 1.0, < 2/);
    assert.match(result.stdout, /db\s+target virtualbox\s+basebox debian-12@>= 1.0, < 2/);
  });

  test('--json prints the resolved project as one document', async () => {
    const {result, json} = await boxJson(['validate', '--env', 'prod'], {cwd: path.join(dir, 'good'), boxHome: home});
    assert.equal(result.exitCode, 0, result.stderr);
    assert.deepEqual(Object.keys(json).sort(), ['boxfile', 'environment', 'machines', 'project', 'valid']);
    assert.equal(json.valid, true);
    assert.equal(json.boxfile, path.join(dir, 'good', 'Boxfile'));
    assert.equal(json.project, 'shop');
    assert.equal(json.environment, 'prod');
    assert.deepEqual(json.machines.map((m: {name: string; target: string}) => [m.name, m.target]), [['web', 'aws'], ['db', 'aws']]);
    assert.deepEqual(json.machines[0].basebox, {raw: 'debian-12@>= 1.0, < 2', kind: 'store', name: 'debian-12', versionConstraint: '>= 1.0, < 2'});
    assert.deepEqual(json.machines[0].forwardedPorts, [{guest: 80, host: 8080, protocol: 'tcp', hostIp: '127.0.0.1'}]);
  });

  test('an invalid Boxfile lists every error on stderr and exits 2', async () => {
    const result = await box(['validate'], {cwd: path.join(dir, 'bad'), boxHome: home});
    assert.equal(result.exitCode, 2);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /Error: 2 errors in Boxfile:/);
    assert.match(result.stderr, /Boxfile:2:9 target: expected one of qemu, virtualbox, aws, kvm, libvirt \(did you mean qemu\?\) \(got "qemuu"\)/);
    assert.match(result.stderr, /Boxfile:4:10 targets.qemu.cpu: unknown key \(did you mean cpus\?\)/);
    assert.match(result.stderr, /Hint: /);
  });

  test('an invalid Boxfile with --json gives the error document with every error', async () => {
    const {result, json} = await boxJson(['validate'], {cwd: path.join(dir, 'bad'), boxHome: home});
    assert.equal(result.exitCode, 2);
    assert.equal(json.error.code, 'ERR_BOXFILE_INVALID');
    assert.equal(json.error.exitCode, 2);
    assert.deepEqual(json.error.details.errors, [
      {file: 'Boxfile', line: 2, column: 9, path: 'target', message: 'expected one of qemu, virtualbox, aws, kvm, libvirt (did you mean qemu?)', got: '"qemuu"'},
      {file: 'Boxfile', line: 4, column: 10, path: 'targets.qemu.cpu', message: 'unknown key (did you mean cpus?)', got: '2'},
    ]);
  });

  test('--boxfile and --cwd name the file relative to the working folder', async () => {
    const result = await box(['validate', '--cwd', dir, '--boxfile', 'bad/Boxfile'], {boxHome: home});
    assert.equal(result.exitCode, 2);
    assert.match(result.stderr, /bad\/Boxfile:2:9 target:/);
  });

  test('--cwd=DIR takes the whole value, = signs included', async () => {
    await writeFiles(dir, {'a=b/Boxfile': 'name: eq\nbasebox: debian-12\n'});
    const {result, json} = await boxJson(['validate', `--cwd=${path.join(dir, 'a=b')}`], {boxHome: home});
    assert.equal(result.exitCode, 0, result.stderr);
    assert.equal(json.boxfile, path.join(dir, 'a=b', 'Boxfile'));
    assert.equal(json.project, 'eq');
  });

  test('an unknown --env exits 2 with a did-you-mean', async () => {
    const {result, json} = await boxJson(['validate', '--env', 'prd'], {cwd: path.join(dir, 'good'), boxHome: home});
    assert.equal(result.exitCode, 2);
    assert.equal(json.error.code, 'ERR_UNKNOWN_ENV');
    assert.match(json.error.hint, /Did you mean "prod"\?/);
  });

  test('a folder without a Boxfile exits 2 and suggests box init', async () => {
    const {result, json} = await boxJson(['validate'], {cwd: dir, boxHome: home, env: {BOX_BOXFILE: path.join(dir, 'none', 'Boxfile')}});
    assert.equal(result.exitCode, 2);
    assert.equal(json.error.code, 'ERR_BOXFILE_NOT_FOUND');
    assert.match(json.error.hint, /box init/);
  });
  test('--json prints the document whatever a value holds: a 3 MB script, and a 10 MB Boxfile refused by size', async () => {
    // oclif's JSON colouring overflowed the stack on a long string: no JSON at all, exit 1.
    const script = `echo ${'x'.repeat(3 * 1024 * 1024)}`;
    await writeFiles(dir, {
      'long-string/Boxfile': `basebox: debian-12\nprovisioners:\n  - {type: shell, inline: "${script}"}\n`,
      'ten-mb/Boxfile': `basebox: debian-12\nhostname: "${'a'.repeat(10_000_000)}"\n`,
    });
    const ok = await boxJson(['validate'], {cwd: path.join(dir, 'long-string'), boxHome: home});
    assert.equal(ok.result.exitCode, 0, ok.result.stderr);
    assert.equal(ok.json.machines[0].provisioners[0].inline, script);
    const big = await boxJson(['validate'], {cwd: path.join(dir, 'ten-mb'), boxHome: home});
    assert.equal(big.result.exitCode, 2);
    assert.equal(big.json.error.code, 'ERR_BOXFILE_INVALID');
    assert.match(big.json.error.details.errors[0].message, /^the file is 9\.5 MiB; box reads files of at most 8\.0 MiB/);
  });

  test('an invalid value is quoted shortened in the message and in --json', async () => {
    await writeFiles(dir, {'long-bad/Boxfile': `basebox: debian-12\ntarget: "${'q'.repeat(1_000_000)}"\n`});
    const {result, json} = await boxJson(['validate'], {cwd: path.join(dir, 'long-bad'), boxHome: home});
    assert.equal(result.exitCode, 2);
    assert.equal(json.error.details.errors[0].got, `"${'q'.repeat(56)}...`);
    assert.ok(json.error.message.length < 500, json.error.message.slice(0, 500));
  });
});
