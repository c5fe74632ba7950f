import assert from 'node:assert/strict';
import {describe, test} from 'node:test';
import {loadProject} from '../../src/boxfile/load.js';
import {assignPrivateAddresses, privateIpProblem, privateMac, projectSubnet} from '../../src/boxfile/private-network.js';
import {BoxError} from '../../src/core/errors.js';
import {checkTargetSettings} from '../../src/services/check-target-settings.js';
import {registerTarget} from '../../src/providers/registry.js';
import {z} from 'zod';
import {boxfileProjects, lines, loadErrors} from './helpers.js';

describe('private network addresses', () => {
  test('private IPv4 addresses are accepted; others say why not', () => {
    for (const ip of ['10.20.30.11', '172.16.0.5', '172.31.255.254', '192.168.56.10']) assert.equal(privateIpProblem(ip), undefined, ip);
    assert.match(privateIpProblem('10.20.30')!, /IPv4 address/);
    assert.match(privateIpProblem('fd00::1')!, /IPv4 address/);
    assert.match(privateIpProblem('8.8.8.8')!, /private range/);
    assert.match(privateIpProblem('172.32.0.1')!, /private range/);
    assert.match(privateIpProblem('10.0.2.15')!, /10\.0\.2\.0\/24/);
    assert.match(privateIpProblem('10.1.2.0')!, /network or broadcast/);
    assert.match(privateIpProblem('10.1.2.255')!, /network or broadcast/);
  });

  test('the project subnet is the first written address\'s /24, else a stable one from the project folder', () => {
    assert.equal(projectSubnet('/p', ['192.168.56.4', '10.1.1.1']), '192.168.56');
    const derived = projectSubnet('/home/me/shop', []);
    assert.equal(derived, projectSubnet('/home/me/shop', []));
    assert.notEqual(derived, projectSubnet('/home/me/blog', []));
    assert.match(derived, /^10\.\d+\.\d+$/);
    assert.notEqual(derived, '10.0.2');
  });

  test('written addresses win, recorded ones are kept, the rest get the lowest free host from .10 in Boxfile order', () => {
    const got = assignPrivateAddresses('/p', [
      {name: 'web'},
      {name: 'app', recorded: '10.9.9.10'},
      {name: 'db', ip: '10.9.9.11'},
      {name: 'cache'},
    ]);
    assert.deepEqual(Object.fromEntries(got), {db: '10.9.9.11', app: '10.9.9.10', web: '10.9.9.12', cache: '10.9.9.13'});
  });

  test('a recorded address that another machine now writes, or outside the subnet, is replaced', () => {
    const got = assignPrivateAddresses('/p', [
      {name: 'web', recorded: '10.9.9.20'},
      {name: 'db', ip: '10.9.9.20'},
      {name: 'app', recorded: '10.7.7.10'},
    ]);
    assert.deepEqual(Object.fromEntries(got), {db: '10.9.9.20', web: '10.9.9.10', app: '10.9.9.11'});
  });

  test('a full /24 is an error naming the machine', () => {
    const machines = Array.from({length: 246}, (_, i) => ({name: `m${i}`}));
    assert.throws(() => assignPrivateAddresses('/p', [{name: 'a', ip: '10.9.9.1'}, ...machines]), /10\.9\.9\.0\/24 has no free address left for machine m245/);
  });

  test('the MAC is stable per machine and project, and locally administered (52:54:00)', () => {
    assert.equal(privateMac('/p', 'web'), privateMac('/p', 'web'));
    assert.notEqual(privateMac('/p', 'web'), privateMac('/p', 'db'));
    assert.notEqual(privateMac('/p', 'web'), privateMac('/q', 'web'));
    assert.match(privateMac('/p', 'web'), /^52:54:00(:[0-9a-f]{2}){3}$/);
  });
});

describe('networks in the Boxfile', () => {
  const {project} = boxfileProjects('box-private-network-');

  test('networks reach the machine config; an ip is optional', async () => {
    const cwd = await project('ok', 'basebox: debian-12\nnetworks: [{type: private}]\nmachines:\n  web:\n  db:\n    networks: [{type: private, ip: 10.5.5.20}]\n  tool:\n    networks: []\n');
    const p = await loadProject({cwd});
    assert.deepEqual(p.machines.map((m) => [m.name, m.networks]), [['web', [{type: 'private'}]], ['db', [{type: 'private', ip: '10.5.5.20'}]], ['tool', []]]);
  });

  test('a malformed address and one outside the private ranges are errors at their line and column', async () => {
    const cwd = await project('bad-ip', 'basebox: debian-12\nmachines:\n  web:\n    networks: [{type: private, ip: 10.1.2}]\n  db:\n    networks:\n      - type: private\n        ip: 8.8.8.8\n');
    const {error} = await loadErrors({cwd});
    assert.deepEqual(lines(error), [
      'Boxfile:4:36 machines.web.networks[0].ip: must be an IPv4 address such as 10.20.30.11 (got "10.1.2")',
      'Boxfile:8:13 machines.db.networks[0].ip: must be in a private range (10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16): the private network never routes anywhere else (got "8.8.8.8")',
    ]);
  });

  test('two machines with one address is an error at the second machine\'s ip', async () => {
    const cwd = await project('clash', 'basebox: debian-12\nmachines:\n  web:\n    networks: [{type: private, ip: 10.1.2.3}]\n  db:\n    networks: [{type: private, ip: 10.1.2.3}]\n');
    const {error} = await loadErrors({cwd});
    assert.deepEqual(lines(error), ['Boxfile:6:36 machines.db.networks[0].ip: 10.1.2.3 is already machine web\'s private address (got "10.1.2.3")']);
  });

  test('an address written at the top level is every machine\'s: a clash, reported once', async () => {
    const cwd = await project('top-clash', 'basebox: debian-12\nnetworks: [{type: private, ip: 10.1.2.3}]\nmachines:\n  web:\n  db:\n  app:\n');
    const {error} = await loadErrors({cwd});
    assert.deepEqual(lines(error), ['Boxfile:2:32 networks[0].ip: machines web and db both take this address; give each machine its own ip under machines.<name>.networks (got "10.1.2.3")']);
  });

  test('machines in different /24s are an error: the network is one segment', async () => {
    const cwd = await project('subnets', 'basebox: debian-12\nmachines:\n  web:\n    networks: [{type: private, ip: 10.1.2.3}]\n  db:\n    networks: [{type: private, ip: 10.1.3.3}]\n');
    const {error} = await loadErrors({cwd});
    assert.deepEqual(lines(error), ['Boxfile:6:36 machines.db.networks[0].ip: is not in 10.1.2.0/24, the private network of machine web: the project\'s machines share one /24 (got "10.1.3.3")']);
  });

  test('more than one network, or another type, is refused', async () => {
    const cwd = await project('two', 'basebox: debian-12\nnetworks: [{type: private}, {type: private}]\nmachines:\n  web:\n    networks: [{type: public}]\n');
    const {error} = await loadErrors({cwd});
    const text = lines(error).join('\n');
    assert.match(text, /^Boxfile:2:11 networks: allows at most 1 item/m);
    assert.match(text, /^Boxfile:5:23 machines\.web\.networks\[0\]\.type: expected "private"/m);
  });

  test('a target without a private network refuses networks: not supported yet, exit 2', async () => {
    // A target registered from outside src (as a plugin would): every built-in one has the network.
    registerTarget({
      name: 'nonet', aliases: [], settingsSchema: z.object({}).strict(), vagrantProvider: 'nonet',
      features: {linkedClones: false, snapshots: false, privateNetwork: false, suspend: false},
      async doctor() { return {target: 'nonet', usable: true, summary: '', checks: []}; },
      async createProvider() { throw new Error('not used'); },
    });
    const cwd = await project('nonet', 'basebox: debian-12\ntarget: nonet\nmachines:\n  web:\n    networks: [{type: private}]\n  db:\n');
    const p = await loadProject({cwd});
    await assert.rejects(checkTargetSettings(p), (error: unknown) => {
      assert.ok(error instanceof BoxError);
      assert.equal(error.code, 'ERR_NOT_SUPPORTED');
      assert.equal(error.exitCode, 2);
      assert.match(error.message, /Boxfile:5:15 machines\.web\.networks: a private network is not supported yet on the nonet target \(machine web\)$/m);
      return true;
    });
    const qemu = await loadProject({cwd, target: 'qemu'});
    await checkTargetSettings(qemu);
  });
});
