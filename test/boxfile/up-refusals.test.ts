import assert from 'node:assert/strict';
import {describe, test} from 'node:test';
import path from 'node:path';
import {loadProject} from '../../src/boxfile/load.js';
import {boxfileProjects, lines, loadErrors, writeFiles} from './helpers.js';

// `box validate` must refuse what `box up` would refuse later (after booting, or with a raw
// tool error): each case here once validated and then failed in up.
describe('validate catches what up refuses', () => {
  const {project} = boxfileProjects('box-up-refusals-');

  test('the same host port forwarded by two machines is an error at the second one', async () => {
    const cwd = await project('port-clash', {Boxfile: [
      'basebox: debian-12',
      'machines:',
      '  web:',
      '    forwarded_ports: [{guest: 80, host: 8080}]',
      '  db:',
      '    forwarded_ports: [{guest: 5432, host: 5432}, {guest: 81, host: 8080}]',
      '',
    ].join('\n')});
    const {error, issues} = await loadErrors({cwd});
    assert.deepEqual(lines(error), ['Boxfile:6:68 machines.db.forwarded_ports[1].host: host port 8080/tcp on 127.0.0.1 is already forwarded by machine web (machines.web.forwarded_ports[0]); machines on one host need different host ports (got 8080)']);
    assert.equal(issues[0].got, '8080');
  });

  test('a wildcard address clashes with a specific one; another protocol or an aws machine does not', async () => {
    const cwd = await project('port-wildcard', {Boxfile: [
      'basebox: debian-12',
      'machines:',
      '  web: {forwarded_ports: [{guest: 80, host: 8080, host_ip: 0.0.0.0}]}',
      '  dns: {forwarded_ports: [{guest: 53, host: 8080, protocol: udp}]}',
      '  cloud: {target: aws, targets: {aws: {ami: ami-0123456789abcdef0}}, forwarded_ports: [{guest: 80, host: 8080}]}',
      '  db: {target: virtualbox, forwarded_ports: [{guest: 80, host: 8080}]}',
      '',
    ].join('\n')});
    const {error} = await loadErrors({cwd});
    assert.deepEqual(lines(error), ['Boxfile:6:64 machines.db.forwarded_ports[0].host: host port 8080/tcp on 127.0.0.1 is already forwarded by machine web (machines.web.forwarded_ports[0]); machines on one host need different host ports (got 8080)']);
  });

  test('a forward every machine inherits from the top level is reported once, where it is written', async () => {
    const cwd = await project('port-inherited', {Boxfile: 'basebox: debian-12\nforwarded_ports: [{guest: 80, host: 8080}]\nmachines:\n  a:\n  b:\n  c:\n'});
    const {error} = await loadErrors({cwd});
    assert.deepEqual(lines(error), ['Boxfile:2:37 forwarded_ports[0].host: machines a and b both take this forward; host port 8080/tcp on 127.0.0.1 can be forwarded by one machine only (give each machine its own forwarded_ports) (got 8080)']);
  });

  test('an environment that moves a port onto another machine\'s is caught with --env only', async () => {
    const cwd = await project('port-env', {Boxfile: [
      'basebox: debian-12',
      'machines:',
      '  web: {forwarded_ports: [{guest: 80, host: 8080}]}',
      '  api: {forwarded_ports: [{guest: 80, host: 8081}]}',
      'environments:',
      '  demo:',
      '    machines:',
      '      api: {forwarded_ports: [{guest: 80, host: 8080}]}',
      '',
    ].join('\n')});
    assert.equal((await loadProject({cwd})).machines.length, 2);
    const {error} = await loadErrors({cwd, env: 'demo'});
    assert.deepEqual(lines(error), ['Boxfile:8:49 environments.demo.machines.api.forwarded_ports[0].host: host port 8080/tcp on 127.0.0.1 is already forwarded by machine web (machines.web.forwarded_ports[0]); machines on one host need different host ports (got 8080)']);
  });

  test('disk: 1e400 (Infinity in YAML) and other sizes past 64 TiB are refused like memory', async () => {
    const cwd = await project('disk-infinite', {Boxfile: 'basebox: debian-12\ntargets:\n  qemu: {disk: 1e400}\nmachines:\n  a: {targets: {qemu: {disk: 100T}}}\n  b: {targets: {qemu: {disk: "20G"}}}\n'});
    const {error} = await loadErrors({cwd});
    assert.deepEqual(lines(error), [
      'Boxfile:3:16 targets.qemu.disk: must be between 1 GiB and 64 TiB (a bare number is GiB: 20, or "20G") (got Infinity)',
      'Boxfile:5:30 machines.a.targets.qemu.disk: must be between 1 GiB and 64 TiB (a bare number is GiB: 20, or "20G") (got "100T")',
    ]);
  });

  test('a size that starts with digits but is not a size is one error, not a crash (found by fuzzing)', async () => {
    const cwd = await project('size-garbage', {Boxfile: 'basebox: debian-12\ntargets:\n  qemu: {memory: 21e400G, disk: 3x}\n  virtualbox: {memory: "1.5.5G"}\n'});
    const {error} = await loadErrors({cwd});
    assert.deepEqual(lines(error), [
      'Boxfile:3:18 targets.qemu.memory: expected a size such as 2048, "512M" or "2G" (got "21e400G")',
      'Boxfile:3:33 targets.qemu.disk: expected a size such as 2048, "512M" or "2G" (got "3x")',
      'Boxfile:4:24 targets.virtualbox.memory: expected a size such as 2048, "512M" or "2G" (got "1.5.5G")',
    ]);
  });

  test('an SSH timeout past a day is refused (Node timers overflow and fire at once)', async () => {
    const cwd = await project('ssh-timeout', {Boxfile: 'basebox: debian-12\nssh: {timeout: 10000000000}\n'});
    const {error} = await loadErrors({cwd});
    assert.deepEqual(lines(error), ['Boxfile:2:16 ssh.timeout: must be at most 86400 (got 10000000000)']);
  });

  test('a provisioner environment variable name the guest shell cannot take is refused at the name', async () => {
    const cwd = await project('env-name', {Boxfile: 'basebox: debian-12\nprovisioners:\n  - type: shell\n    inline: env\n    env: {GOOD_1: a, "BAD NAME": b, 1ST: c}\n'});
    const {error} = await loadErrors({cwd});
    assert.deepEqual(lines(error), [
      'Boxfile:5:22 provisioners[0].env.BAD NAME: expected an environment variable name (letters, digits and _, not starting with a digit) (got (hidden))',
      'Boxfile:5:37 provisioners[0].env.1ST: expected an environment variable name (letters, digits and _, not starting with a digit) (got (hidden))',
    ]);
  });

  test('an SSH private key that does not exist is refused before up boots anything (~ is the home folder)', async () => {
    const cwd = await project('missing-key', {Boxfile: 'basebox: debian-12\nssh: {private_key_path: keys/id_ed25519}\ntargets:\n  aws: {private_key_path: ~/.ssh/box-missing-key}\n', 'keys/.keep': ''});
    const {error} = await loadErrors({cwd});
    assert.deepEqual(lines(error), [
      `Boxfile:2:25 ssh.private_key_path: no such file ${path.join(cwd, 'keys', 'id_ed25519')} (got "keys/id_ed25519")`,
      `Boxfile:4:27 targets.aws.private_key_path: no such file ${path.join(process.env.HOME ?? '', '.ssh', 'box-missing-key')} (got "~/.ssh/box-missing-key")`,
    ]);
    await writeFiles(cwd, {'keys/id_ed25519': 'key', Boxfile: 'basebox: debian-12\nssh: {private_key_path: keys/id_ed25519}\n'});
    assert.equal((await loadProject({cwd})).machines[0].ssh.privateKeyPath, path.join(cwd, 'keys', 'id_ed25519'));
  });

  test('machine and project names longer than 63 characters are refused (folder names, VM names, cloud tags)', async () => {
    const long = 'm'.repeat(64);
    const cwd = await project('long-names', {Boxfile: `name: ${'p'.repeat(64)}\nbasebox: debian-12\nmachines:\n  ${long}: {}\n  ${'n'.repeat(63)}: {}\n`});
    const {error} = await loadErrors({cwd});
    assert.deepEqual(lines(error), [
      `Boxfile:1:7 name: expected letters, digits, dot, dash or underscore, at most 63 characters (got "${'p'.repeat(56)}...)`,
      `Boxfile:4:3 machines.${long}: expected a machine name of letters, digits, dash or underscore, at most 63 characters (got "${'m'.repeat(56)}...)`,
    ]);
  });
});
