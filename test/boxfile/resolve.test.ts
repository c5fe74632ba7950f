import assert from 'node:assert/strict';
import {rm} from 'node:fs/promises';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {BoxError} from '../../src/core/errors.js';
import {loadProject, selectMachines} from '../../src/boxfile/load.js';
import {tempDir} from '../helpers/cli.js';
import {writeFiles} from './helpers.js';

const layered = `name: shop
basebox: debian-12
targets:
  qemu: {cpus: 1, memory: 512M}
  aws: {region: eu-west-1, tags: {project: shop}}
provisioners:
  - {type: shell, name: top, inline: echo top}
forwarded_ports:
  - {guest: 22, host: 2200}
machines:
  web:
    targets: {qemu: {memory: 1G}}
    forwarded_ports: [{guest: 80, host: 8080}]
    provisioners: [{type: shell, name: web, path: scripts/web.sh}]
  db:
    basebox: "./boxes/db.box"
    targets: {qemu: {disk: 20G}}
environments:
  prod:
    target: aws
    targets: {aws: {instance_type: t3.small, tags: {env: prod}}}
    provisioners: [{type: shell, name: prod, inline: echo prod}]
    machines:
      web:
        targets: {aws: {instance_type: t3.large}}
        provisioners: [{type: shell, name: prod-web, inline: echo prod-web}]
`;

describe('Boxfile resolution', () => {
  let dir: string;
  let home: string;
  let root: string;
  let cleanup: () => Promise<void>;

  before(async () => {
    ({dir, cleanup} = await tempDir('box-resolve-'));
    home = path.join(dir, 'home');
    root = path.join(dir, 'shop');
    process.env.BOX_HOME = home;
    await writeFiles(root, {Boxfile: layered, 'scripts/web.sh': 'echo web\n'});
  });
  after(async () => {
    delete process.env.BOX_HOME;
    await cleanup();
  });

  test('no machines section gives one machine named default with every built-in default', async () => {
    const cwd = path.join(dir, 'plain');
    await writeFiles(cwd, {Boxfile: 'basebox: debian-12\n'});
    const project = await loadProject({cwd});
    assert.equal(project.name, 'plain');
    assert.equal(project.root, cwd);
    assert.equal(project.boxfilePath, path.join(cwd, 'Boxfile'));
    assert.equal(project.environment, undefined);
    assert.deepEqual(project.machines, [{
      name: 'default',
      basebox: {raw: 'debian-12', kind: 'store', name: 'debian-12'},
      target: 'qemu',
      qemu: {cpus: 2, memoryMiB: 1024, diskGiB: 10, accel: 'auto', machineType: 'q35', extraArgs: [], binary: 'qemu-system-x86_64'},
      virtualbox: {cpus: 2, memoryMiB: 1024, linkedClone: true, gui: false},
      aws: {},
      provisioners: [],
      forwardedPorts: [],
      syncedFolders: [],
      networks: [],
      tests: [],
      artifacts: [],
      ssh: {username: 'vagrant', port: 22, timeoutSeconds: 300, insertKey: true},
      setByUser: ['basebox'],
    }]);
  });

  test('each machine records the settings its user layers set, not the built-in defaults (a box\'s Vagrantfile may change those)', async () => {
    const [web, db] = (await loadProject({cwd: root})).machines;
    assert.ok(web.setByUser!.includes('targets.qemu.memory') && web.setByUser!.includes('targets.qemu.cpus'));
    assert.ok(db.setByUser!.includes('targets.qemu.disk'));
    assert.ok(db.setByUser!.includes('targets.qemu.memory'), 'memory: 512M at the top of the Boxfile counts for db too');
    for (const m of [web, db]) {
      assert.ok(!m.setByUser!.includes('ssh.username'), 'ssh.username is a built-in default here');
      assert.ok(!m.setByUser!.includes('targets.virtualbox.cpus'));
    }
  });

  test('machine overrides merge mappings deeply and replace lists', async () => {
    const project = await loadProject({cwd: root});
    assert.equal(project.name, 'shop');
    const [web, db] = project.machines;
    assert.deepEqual(project.machines.map((m) => m.name), ['web', 'db']);
    assert.deepEqual([web.qemu.cpus, web.qemu.memoryMiB, web.qemu.diskGiB], [1, 1024, 10]);
    assert.deepEqual([db.qemu.cpus, db.qemu.memoryMiB, db.qemu.diskGiB], [1, 512, 20]);
    assert.deepEqual(web.forwardedPorts, [{guest: 80, host: 8080, protocol: 'tcp', hostIp: '127.0.0.1'}]);
    assert.deepEqual(db.forwardedPorts, [{guest: 22, host: 2200, protocol: 'tcp', hostIp: '127.0.0.1'}]);
    assert.deepEqual(db.basebox, {raw: './boxes/db.box', kind: 'file', name: path.join(root, 'boxes', 'db.box')});
  });

  test('machines do not share nested objects', async () => {
    const project = await loadProject({cwd: root, env: 'prod'});
    const [web, db] = project.machines;
    web.aws.tags!.changed = 'yes';
    web.provisioners[0].name = 'renamed';
    assert.equal(db.aws.tags!.changed, undefined);
    assert.equal(db.provisioners[0].name, 'top');
  });

  test('provisioners append with outer layers first and script paths made absolute', async () => {
    const project = await loadProject({cwd: root});
    const [web, db] = project.machines;
    assert.deepEqual(web.provisioners.map((p) => p.name), ['top', 'web']);
    assert.deepEqual(db.provisioners.map((p) => p.name), ['top']);
    assert.deepEqual(web.provisioners[1], {type: 'shell', name: 'web', path: path.join(root, 'scripts', 'web.sh')});
  });

  test('an environment overlay applies its top level, then its machine settings', async () => {
    const project = await loadProject({cwd: root, env: 'prod'});
    assert.equal(project.environment, 'prod');
    const [web, db] = project.machines;
    assert.deepEqual([web.target, db.target], ['aws', 'aws']);
    assert.deepEqual(web.aws, {region: 'eu-west-1', instance_type: 't3.large', tags: {project: 'shop', env: 'prod'}});
    assert.deepEqual(db.aws, {region: 'eu-west-1', instance_type: 't3.small', tags: {project: 'shop', env: 'prod'}});
    assert.deepEqual(web.provisioners.map((p) => p.name), ['top', 'web', 'prod', 'prod-web']);
    assert.deepEqual(db.provisioners.map((p) => p.name), ['top', 'prod']);
  });

  test('--target overrides every machine, even over the environment', async () => {
    const project = await loadProject({cwd: root, env: 'prod', target: 'virtualbox'});
    assert.deepEqual(project.machines.map((m) => m.target), ['virtualbox', 'virtualbox']);
  });

  test('~/.box/config.yaml sits between the built-in defaults and the Boxfile', async () => {
    await writeFiles(home, {
      'config.yaml': 'targets:\n  qemu: {cpus: 4, accel: tcg}\nssh: {timeout: 900}\nprovisioners:\n  - {type: shell, name: user, inline: echo user}\n',
    });
    try {
      const project = await loadProject({cwd: root});
      const [web] = project.machines;
      assert.equal(web.qemu.cpus, 1, 'the Boxfile wins over the user config');
      assert.equal(web.qemu.accel, 'tcg', 'the user config wins over the built-in default');
      assert.equal(web.ssh.timeoutSeconds, 900);
      assert.deepEqual(web.provisioners.map((p) => p.name), ['user', 'top', 'web']);
    } finally {
      await rm(path.join(home, 'config.yaml'), {force: true});
    }
  });

  test('paths in ~/.box/config.yaml resolve against ~/.box, paths in the Boxfile against its folder', async () => {
    await writeFiles(home, {'config.yaml': 'provisioners:\n  - {type: file, source: dotfiles/.bashrc, destination: /home/vagrant/.bashrc}\n', 'dotfiles/.bashrc': '# mine\n'});
    try {
      const cwd = path.join(dir, 'url');
      await writeFiles(cwd, {Boxfile: 'basebox: debian-12\nbasebox_url: catalogs/debian.json\n'});
      const [machine] = (await loadProject({cwd})).machines;
      assert.deepEqual(machine.basebox, {raw: 'debian-12', kind: 'store', name: 'debian-12', url: path.join(cwd, 'catalogs', 'debian.json')});
      assert.deepEqual(machine.provisioners, [{type: 'file', source: path.join(home, 'dotfiles', '.bashrc'), destination: '/home/vagrant/.bashrc'}]);
    } finally {
      await rm(path.join(home, 'config.yaml'), {force: true});
    }
  });

  test('--boxfile loads a Boxfile with another name and resolves paths against its folder', async () => {
    const other = path.join(dir, 'other');
    await writeFiles(other, {'ci.yaml': 'basebox: ./base.box\nsynced_folders: [{source: ., destination: /src}]\n'});
    const project = await loadProject({cwd: dir, boxfile: path.join(other, 'ci.yaml')});
    assert.equal(project.root, other);
    assert.deepEqual(project.machines[0].syncedFolders, [{source: other, destination: '/src', type: 'rsync', exclude: [], gitignore: false}]);
    assert.equal(project.machines[0].basebox.name, path.join(other, 'base.box'));
  });

  test('empty machine and environment entries are allowed and change nothing', async () => {
    const cwd = path.join(dir, 'empty-entries');
    await writeFiles(cwd, {Boxfile: 'basebox: debian-12\nmachines:\n  web:\n  db:\nenvironments:\n  dev:\n'});
    const project = await loadProject({cwd, env: 'dev'});
    assert.deepEqual(project.machines.map((m) => [m.name, m.target, m.basebox.name]), [['web', 'qemu', 'debian-12'], ['db', 'qemu', 'debian-12']]);
    assert.equal(project.environment, 'dev');
  });

  test('tests and artifacts (box ci) are machine settings: a string is a command, a machine\'s list replaces the top one', async () => {
    const cwd = path.join(dir, 'ci-settings');
    await writeFiles(cwd, {Boxfile: [
      'basebox: debian-12',
      'tests: [make test, {name: lint, run: make lint, privileged: true}]',
      'artifacts: [reports/*.xml]',
      'machines:',
      '  web:',
      '  db:',
      '    tests: [{run: pg_isready}]',
      '    artifacts: []',
      '',
    ].join('\n')});
    const project = await loadProject({cwd});
    const [web, db] = project.machines;
    assert.deepEqual(web!.tests, [{name: 'make test', run: 'make test', privileged: false}, {name: 'lint', run: 'make lint', privileged: true}]);
    assert.deepEqual(web!.artifacts, ['reports/*.xml']);
    assert.deepEqual(db!.tests, [{name: 'pg_isready', run: 'pg_isready', privileged: false}]);
    assert.deepEqual(db!.artifacts, []);
    await writeFiles(cwd, {Boxfile: 'basebox: debian-12\ntests: [{name: x}]\n'});
    await assert.rejects(loadProject({cwd}), /Boxfile:2:\d+ tests\[0\]/);
  });

  test('YAML anchors and merge keys work, with x- keys as a home for anchors', async () => {
    const cwd = path.join(dir, 'anchors');
    await writeFiles(cwd, {Boxfile: [
      'basebox: debian-12',
      'x-small: &small',
      '  targets: {qemu: {cpus: 1, memory: 256M}}',
      '  hostname: small',
      'machines:',
      '  a:',
      '    <<: *small',
      '  b:',
      '    <<: *small',
      '    hostname: bee',
      '',
    ].join('\n')});
    const project = await loadProject({cwd});
    assert.deepEqual(project.machines.map((m) => [m.name, m.qemu.cpus, m.qemu.memoryMiB, m.hostname]), [['a', 1, 256, 'small'], ['b', 1, 256, 'bee']]);
  });

  test('selectMachines picks by name and suggests a close name for a typo', async () => {
    const project = await loadProject({cwd: root});
    assert.deepEqual(selectMachines(project, []).map((m) => m.name), ['web', 'db']);
    assert.deepEqual(selectMachines(project, ['db']).map((m) => m.name), ['db']);
    assert.throws(() => selectMachines(project, ['dbb']), (error: BoxError) => {
      assert.equal(error.code, 'ERR_UNKNOWN_MACHINE');
      assert.equal(error.exitCode, 2);
      assert.equal(error.hint, 'Did you mean "db"? Machines: web, db.');
      return true;
    });
  });
});
