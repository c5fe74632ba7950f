import assert from 'node:assert/strict';
import {describe, test} from 'node:test';
import {rm} from 'node:fs/promises';
import path from 'node:path';
import {loadProject} from '../../src/boxfile/load.js';
import {BoxError} from '../../src/core/errors.js';
import {boxfileProjects, lines, loadErrors, writeFiles} from './helpers.js';

// Every case writes a real Boxfile to a temp folder and loads it the way commands do.
describe('Boxfile validation', () => {
  const projects = boxfileProjects('box-boxfile-');
  const {project} = projects;

  test('a wrong type points at the value and names the field', async () => {
    const cwd = await project('wrong-type', {Boxfile: 'basebox: debian-12\ntargets:\n  qemu:\n    cpus: two\n'});
    const {error, issues} = await loadErrors({cwd});
    assert.deepEqual(lines(error), ['Boxfile:4:11 targets.qemu.cpus: expected a number (got "two")']);
    assert.deepEqual(issues, [{file: 'Boxfile', line: 4, column: 11, path: 'targets.qemu.cpus', message: 'expected a number', got: '"two"'}]);
  });

  test('an out-of-range number is reported with its bound', async () => {
    const cwd = await project('range', {Boxfile: 'basebox: debian-12\nforwarded_ports:\n  - {guest: 80, host: 70000}\n'});
    const {error} = await loadErrors({cwd});
    assert.deepEqual(lines(error), ['Boxfile:3:23 forwarded_ports[0].host: must be at most 65535 (got 70000)']);
  });

  test('an unknown key points at the key and suggests the closest allowed key', async () => {
    const cwd = await project('unknown-key', {Boxfile: 'basebox: debian-12\ntargets:\n  qemu:\n    memroy: 2G\n'});
    const {error, issues} = await loadErrors({cwd});
    assert.deepEqual(lines(error), ['Boxfile:4:5 targets.qemu.memroy: unknown key (did you mean memory?) (got "2G")']);
    assert.equal(issues[0].got, '"2G"');
  });

  test('a key written at the wrong level says where it belongs', async () => {
    const cwd = await project('misplaced', {Boxfile: 'basebox: debian-12\nmachines:\n  web:\n    memory: 2G\n    region: eu-west-1\n'});
    const {error} = await loadErrors({cwd});
    assert.deepEqual(lines(error), [
      'Boxfile:4:5 machines.web.memory: unknown key here (it belongs under targets.qemu or targets.virtualbox) (got "2G")',
      'Boxfile:5:5 machines.web.region: unknown key here (it belongs under targets.aws) (got "eu-west-1")',
    ]);
  });

  test('unknown keys inside a provisioner are matched against that provisioner type', async () => {
    const cwd = await project('provisioner-key', {Boxfile: 'basebox: debian-12\nprovisioners:\n  - type: shell\n    inlne: echo hi\n  - {type: file, source: Boxfile, destnation: /tmp/x}\n'});
    const {error} = await loadErrors({cwd});
    assert.deepEqual(lines(error), [
      'Boxfile:3:5 provisioners[0]: a shell provisioner needs exactly one of inline or path',
      'Boxfile:4:5 provisioners[0].inlne: unknown key (did you mean inline?) (got "echo hi")',
      'Boxfile:5:5 provisioners[1].destination: is required (a string)',
      'Boxfile:5:35 provisioners[1].destnation: unknown key (did you mean destination?) (got "/tmp/x")',
    ]);
  });

  test('values that may be secrets are not echoed in errors', async () => {
    const cwd = await project('secret', {Boxfile: 'basebox: debian-12\nprovisioners:\n  - type: shell\n    inline: echo\n    env: {DB_PASSWORD: 123456789}\n'});
    const {error} = await loadErrors({cwd});
    assert.deepEqual(lines(error), ['Boxfile:5:24 provisioners[0].env.DB_PASSWORD: expected a string (got (hidden))']);
    assert.doesNotMatch(error.message, /123456789/);
  });

  test('an unknown top-level key with no close match lists the allowed keys', async () => {
    const cwd = await project('unknown-top', {Boxfile: 'basebox: debian-12\nzzzzzz: 1\n'});
    const {error} = await loadErrors({cwd});
    assert.match(lines(error)[0], /^Boxfile:2:1 zzzzzz: unknown key; allowed here: version, name, basebox, /);
  });

  test('a hostname that is not an RFC 1123 host name is reported on its value; host names and FQDNs pass', async () => {
    const bad = ['web_1', '-web', 'web-', 'a..b', 'x'.repeat(64), '10.0.0.1', 'web 1', 'web.', `${'a'.repeat(63)}.`.repeat(4) + 'com'];
    for (const value of bad) {
      const cwd = await project(`hostname-bad-${bad.indexOf(value)}`, {Boxfile: `basebox: debian-12\nmachines:\n  web:\n    hostname: ${JSON.stringify(value)}\n`});
      const {error} = await loadErrors({cwd});
      assert.match(lines(error)[0], /^Boxfile:4:15 machines\.web\.hostname: must be a host name \(RFC 1123\)/, value);
    }
    for (const value of ['web-1', 'web-1.example.test', 'DB2', '1web', `${'a'.repeat(63)}.example`]) {
      const cwd = await project(`hostname-good-${value.length}-${value.slice(0, 4)}`, {Boxfile: `basebox: debian-12\nhostname: ${value}\n`});
      const loaded = await loadProject({cwd});
      assert.equal(loaded.machines[0].hostname, value);
    }
  });

  test('a bad enum value lists the allowed values', async () => {
    const cwd = await project('enum', {Boxfile: 'basebox: debian-12\ntarget: virtualbx\n'});
    const {error} = await loadErrors({cwd});
    assert.deepEqual(lines(error), ['Boxfile:2:9 target: expected one of qemu, virtualbox, aws, kvm, libvirt (did you mean virtualbox?) (got "virtualbx")']);
  });

  test('a bad basebox version constraint is reported on the basebox value', async () => {
    const cwd = await project('constraint', {Boxfile: 'name: x\nbasebox: "debian-12@>= 1.0, soon"\n'});
    const {error} = await loadErrors({cwd});
    assert.deepEqual(lines(error), ['Boxfile:2:10 basebox: "soon" is not a version constraint (use e.g. ">= 1.0, < 2", "~> 1.2" or "1.2.3") (got "debian-12@>= 1.0, soon")']);
  });

  test('a duplicate host port in one machine is reported on the second port', async () => {
    const cwd = await project('dup-port', {Boxfile: [
      'basebox: debian-12',
      'machines:',
      '  web:',
      '    forwarded_ports:',
      '      - {guest: 80, host: 8080}',
      '      - guest: 443',
      '        host: 8080',
      '',
    ].join('\n')});
    const {error} = await loadErrors({cwd});
    assert.deepEqual(lines(error), ['Boxfile:7:15 machines.web.forwarded_ports[1].host: host port 8080/tcp is already forwarded by machines.web.forwarded_ports[0] (got 8080)']);
  });

  test('the same host port for tcp and udp is allowed', async () => {
    const cwd = await project('tcp-udp', {Boxfile: 'basebox: debian-12\nforwarded_ports:\n  - {guest: 53, host: 5353}\n  - {guest: 53, host: 5353, protocol: udp}\n'});
    const p = await loadProject({cwd});
    assert.deepEqual(p.machines[0].forwardedPorts.map((f) => f.protocol), ['tcp', 'udp']);
  });

  test('a missing provisioner script is reported relative to the Boxfile', async () => {
    const cwd = await project('missing-script', {Boxfile: 'basebox: debian-12\nprovisioners:\n  - type: shell\n    path: scripts/setup.sh\n'});
    const {error} = await loadErrors({cwd});
    assert.deepEqual(lines(error), [`Boxfile:4:11 provisioners[0].path: no such file ${path.join(cwd, 'scripts/setup.sh')} (got "scripts/setup.sh")`]);
  });

  test('a missing file provisioner source is reported', async () => {
    const cwd = await project('missing-source', {Boxfile: 'basebox: debian-12\nprovisioners:\n  - {type: file, source: conf/app.conf, destination: /etc/app.conf}\n'});
    const {issues} = await loadErrors({cwd});
    assert.equal(issues.length, 1);
    assert.equal(issues[0].path, 'provisioners[0].source');
    assert.deepEqual([issues[0].line, issues[0].column], [3, 26]);
  });

  test('a missing required key points at its parent mapping', async () => {
    const cwd = await project('missing-key', {Boxfile: 'basebox: debian-12\nforwarded_ports:\n  - guest: 80\n    protocol: tcp\n'});
    const {error} = await loadErrors({cwd});
    assert.deepEqual(lines(error), ['Boxfile:3:5 forwarded_ports[0].host: is required (a number)']);
  });

  test('a machine without a basebox is reported on the machine', async () => {
    const cwd = await project('no-basebox', {Boxfile: 'machines:\n  web: {}\n  db:\n    basebox: debian-12\n'});
    const {error} = await loadErrors({cwd});
    assert.deepEqual(lines(error), ['Boxfile:2:3 machines.web.basebox: is required for the qemu target: set basebox at the top of the Boxfile or under machines.web (e.g. "basebox: debian-12"); only an aws machine with targets.aws.ami or ami_filter can do without']);
  });

  test('a shell provisioner needs exactly one of inline or path', async () => {
    const cwd = await project('shell-both', {Boxfile: 'basebox: debian-12\nprovisioners:\n  - type: shell\n    name: nothing\n'});
    const {error} = await loadErrors({cwd});
    assert.deepEqual(lines(error), ['Boxfile:3:5 provisioners[0]: a shell provisioner needs exactly one of inline or path']);
  });

  test('every error is reported at once, in file order', async () => {
    const cwd = await project('many', {Boxfile: [
      'basebox: "debian-12@"', // 1
      'targets:', // 2
      '  qemu:', // 3
      '    cpus: 0', // 4
      '    accel: fast', // 5
      '    memory: lots', // 6
      'provisioners:', // 7
      '  - type: shel', // 8
      '    inline: echo', // 9
      'forwarded_ports:', // 10
      '  - {guest: 80, host: 8080, hostip: 0.0.0.0}', // 11
      '',
    ].join('\n')});
    const {error, issues} = await loadErrors({cwd});
    assert.deepEqual(lines(error), [
      'Boxfile:1:10 basebox: empty version constraint after "@" (e.g. debian-12@>= 1.0, < 2) (got "debian-12@")',
      'Boxfile:4:11 targets.qemu.cpus: must be at least 1 (got 0)',
      'Boxfile:5:12 targets.qemu.accel: expected one of auto, kvm, tcg (got "fast")',
      'Boxfile:6:13 targets.qemu.memory: expected a size such as 2048, "512M" or "2G" (got "lots")',
      'Boxfile:8:11 provisioners[0].type: expected one of shell, file (did you mean shell?) (got "shel")',
      'Boxfile:11:29 forwarded_ports[0].hostip: unknown key (did you mean host_ip?) (got "0.0.0.0")',
    ]);
    assert.match(error.message, /^6 errors in Boxfile:/);
    assert.equal(issues.length, 6);
  });

  test('a YAML syntax error is reported with file:line:col', async () => {
    const cwd = await project('syntax', {Boxfile: 'basebox: debian-12\ntargets:\n  qemu: {cpus: 2\nname: x\n'});
    const {error, issues} = await loadErrors({cwd});
    assert.deepEqual(lines(error), ['Boxfile:4:1 YAML syntax error: Flow map in block collection must be sufficiently indented and end with a }']);
    assert.deepEqual([issues[0].file, issues[0].line, issues[0].column, issues[0].path], ['Boxfile', 4, 1, '']);
    assert.match(error.hint ?? '', /indent with spaces/);
  });

  test('a repeated key is a syntax error rather than a silent override', async () => {
    const cwd = await project('dup-key', {Boxfile: 'basebox: debian-12\ntarget: qemu\ntarget: aws\n'});
    const {error} = await loadErrors({cwd});
    assert.deepEqual(lines(error), ['Boxfile:3:1 target: key repeated in this mapping (first on line 2); one value would silently replace the other']);
  });

  test('an error inside an anchor reused through an alias or merge key points into the anchor', async () => {
    const cwd = await project('anchor-error', {Boxfile: [
      'basebox: debian-12',
      'x-small: &small',
      '  targets: {qemu: {cpus: 0}}',
      'x-t: &tq',
      '  qemu: {memroy: 1}',
      'machines:',
      '  a:',
      '    <<: *small',
      '  b:',
      '    targets: *tq',
      '',
    ].join('\n')});
    const {error} = await loadErrors({cwd});
    assert.deepEqual(lines(error), [
      'Boxfile:3:26 machines.a.targets.qemu.cpus: must be at least 1 (got 0)',
      'Boxfile:5:10 machines.b.targets.qemu.memroy: unknown key (did you mean memory?) (got 1)',
    ]);
  });

  test('a Boxfile that is not a mapping is refused', async () => {
    const cwd = await project('list', {Boxfile: '- basebox: debian-12\n'});
    const {error} = await loadErrors({cwd});
    assert.match(lines(error)[0], /^Boxfile:1:1 the Boxfile must be a mapping/);
  });

  test('errors in ~/.box/config.yaml name that file', async () => {
    const cwd = await project('user-config', {Boxfile: 'basebox: debian-12\ntargets: {qemu: {cpus: 2}}\n'});
    await writeFiles(projects.home, {'config.yaml': '# my defaults\ntargets:\n  qemu:\n    cpus: many\nmachines: {}\n'});
    try {
      const {error, issues} = await loadErrors({cwd});
      const configFile = path.join(projects.home, 'config.yaml');
      assert.deepEqual(lines(error), [
        `${configFile}:4:11 targets.qemu.cpus: expected a number (got "many")`,
        `${configFile}:5:1 machines: is only allowed in a Boxfile, not in the user config`,
      ]);
      assert.equal(issues[0].file, configFile);
    } finally {
      await rm(path.join(projects.home, 'config.yaml'), {force: true});
    }
  });

  test('a Boxfile in a parent folder is found and named relative to cwd', async () => {
    const root = await project('parent', {Boxfile: 'basebox: debian-12\ntarget: hyperv\n', 'sub/deeper/.keep': ''});
    const {error} = await loadErrors({cwd: path.join(root, 'sub', 'deeper')});
    assert.deepEqual(lines(error), [`${path.join('..', '..', 'Boxfile')}:2:9 target: expected one of qemu, virtualbox, aws, kvm, libvirt (got "hyperv")`]);
  });

  test('no Boxfile anywhere is a usage error with a box init hint', async () => {
    await assert.rejects(loadProject({cwd: projects.dir, boxfile: path.join(projects.dir, 'nope', 'Boxfile')}), (error: BoxError) => {
      assert.equal(error.code, 'ERR_BOXFILE_NOT_FOUND');
      assert.equal(error.exitCode, 2);
      assert.match(error.hint ?? '', /box init/);
      return true;
    });
  });

  test('an environment overlay naming an unknown machine gets a did-you-mean', async () => {
    const cwd = await project('env-machine', {Boxfile: 'basebox: debian-12\nmachines: {web: {}, db: {}}\nenvironments:\n  prod:\n    machines:\n      wbe: {}\n'});
    const {error} = await loadErrors({cwd});
    assert.deepEqual(lines(error), ['Boxfile:6:7 environments.prod.machines.wbe: unknown machine (did you mean web?)']);
  });

  test('an unknown --env is a usage error with did-you-mean', async () => {
    const cwd = await project('unknown-env', {Boxfile: 'basebox: debian-12\nenvironments:\n  prod: {target: aws}\n  test: {}\n'});
    await assert.rejects(loadProject({cwd, env: 'prdo'}), (error: BoxError) => {
      assert.equal(error.code, 'ERR_UNKNOWN_ENV');
      assert.equal(error.exitCode, 2);
      assert.equal(error.message, 'Unknown environment "prdo" in Boxfile.');
      assert.equal(error.hint, 'Did you mean "prod"? Environments: prod, test.');
      return true;
    });
  });
  test('a shortened key suggests the full one (subnet → subnet_id, key → key_name, base → basebox)', async () => {
    const cwd = await project('shortened', {Boxfile: 'basebox: debian-12\ntargets:\n  aws:\n    subnet: subnet-1\n    key: mine\nmachines:\n  web:\n    base: debian-12\n'});
    const {error} = await loadErrors({cwd});
    assert.deepEqual(lines(error), [
      'Boxfile:4:5 targets.aws.subnet: unknown key (did you mean subnet_id?) (got "subnet-1")',
      'Boxfile:5:5 targets.aws.key: unknown key (did you mean key_name?) (got "mine")',
      'Boxfile:8:5 machines.web.base: unknown key (did you mean basebox?) (got "debian-12")',
    ]);
  });

  test('host_ip, synced folders and absurd memory are checked before anything runs', async () => {
    const cwd = await project('holes', {Boxfile: [
      'basebox: debian-12',
      'targets:', '  qemu:', '    memory: 99999999G',
      'forwarded_ports:', '  - {guest: 80, host: 8080, host_ip: "localhost:80"}',
      'synced_folders:', '  - {source: ./nope, destination: srv/app}',
    ].join('\n') + '\n'});
    const {error} = await loadErrors({cwd});
    assert.deepEqual(lines(error), [
      'Boxfile:4:13 targets.qemu.memory: must be between 64 MiB and 4 TiB (a bare number is MiB: 2048, or "2G") (got "99999999G")',
      'Boxfile:6:38 forwarded_ports[0].host_ip: must be an IP address such as 127.0.0.1 or 0.0.0.0 (got "localhost:80")',
      `Boxfile:8:14 synced_folders[0].source: no such folder ${path.join(cwd, 'nope')} (got "./nope")`,
      'Boxfile:8:35 synced_folders[0].destination: must be an absolute path in the guest, such as /srv/app (got "srv/app")',
    ]);
  });
});
