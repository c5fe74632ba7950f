import assert from 'node:assert/strict';
import {describe, test} from 'node:test';
import {buildInventory, environmentGroup, runLimit} from '../../../src/provisioners/ansible/inventory.js';

const ssh = (port: number) => ({host: '127.0.0.1', port, username: 'vagrant', privateKeyPath: `/p/.box/machines/m${port}/id_ed25519`});
const machines = [
  {name: 'web', ssh: ssh(2201), privateIp: '192.168.56.10'},
  {name: 'app', ssh: ssh(2202)},
  {name: 'db', ssh: ssh(2203), privateIp: '192.168.56.12'},
];

describe('the ansible inventory box generates', () => {
  test('names every machine with its SSH address, port, user, key and box\'s ssh options, and its private address', () => {
    const inv = buildInventory({project: {name: 'shop'}, machines, targets: ['web']});
    assert.deepEqual(inv.all.hosts.web, {
      ansible_host: '127.0.0.1', ansible_port: 2201, ansible_user: 'vagrant', ansible_ssh_private_key_file: '/p/.box/machines/m2201/id_ed25519',
      ansible_ssh_common_args: '-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o IdentitiesOnly=yes -o PasswordAuthentication=no',
      box_machine: 'web', box_private_ip: '192.168.56.10',
    });
    assert.equal(inv.all.hosts.app!.box_private_ip, undefined);
    assert.deepEqual(Object.keys(inv.all.hosts), ['web', 'app', 'db']);
    assert.deepEqual(inv.all.vars, {box_project: 'shop'});
  });

  test('groups: machines become hosts, a member that is a group becomes a child, machines not running are left out', () => {
    const inv = buildInventory({
      project: {name: 'shop'}, machines, targets: ['web', 'app', 'db'],
      groups: {frontend: ['web'], backend: ['app', 'db', 'cache'], servers: ['frontend', 'backend']},
    });
    assert.deepEqual(inv.all.children.frontend, {hosts: {web: null}});
    assert.deepEqual(inv.all.children.backend, {hosts: {app: null, db: null}});
    assert.deepEqual(inv.all.children.servers, {children: {frontend: null, backend: null}});
  });

  test('the --env environment is a group of every machine, unless groups: has one of that name', () => {
    const inv = buildInventory({project: {name: 'shop', environment: 'staging-2'}, machines, targets: ['web']});
    assert.deepEqual(inv.all.children.staging_2, {hosts: {web: null, app: null, db: null}});
    assert.equal(inv.all.vars.box_environment, 'staging-2');
    const own = buildInventory({project: {name: 'shop', environment: 'prod'}, machines, targets: ['web'], groups: {prod: ['db']}});
    assert.deepEqual(own.all.children.prod, {hosts: {db: null}});
    assert.equal(environmentGroup('2024'), '_2024');
  });

  test('box_targets holds the machines this run provisions', () => {
    const inv = buildInventory({project: {name: 'shop'}, machines, targets: ['web', 'db', 'gone']});
    assert.deepEqual(inv.all.children.box_targets, {hosts: {web: null, db: null}});
  });

  test('a groups: entry may not take box\'s or ansible\'s own group names', () => {
    assert.throws(() => buildInventory({project: {name: 's'}, machines, targets: [], groups: {box_targets: ['web']}}), {code: 'ERR_ANSIBLE_GROUP'});
    assert.throws(() => buildInventory({project: {name: 's'}, machines, targets: [], groups: {all: ['web']}}), {code: 'ERR_ANSIBLE_GROUP'});
  });

  test('an in-guest inventory names the machine with a local connection', () => {
    const inv = buildInventory({project: {name: 's'}, machines: [{name: 'web', local: true, privateIp: '10.1.1.1'}], targets: ['web']});
    assert.deepEqual(inv.all.hosts.web, {ansible_connection: 'local', box_machine: 'web', box_private_ip: '10.1.1.1'});
  });

  test('the limit: box_targets, the user\'s pattern intersected with it, or with an own inventory the user\'s pattern or the machine names', () => {
    assert.equal(runLimit(undefined, ['web', 'db'], false), 'box_targets');
    assert.equal(runLimit('frontend:!db', ['web', 'db'], false), 'frontend:!db,&box_targets');
    assert.equal(runLimit(['web', 'app'], ['web'], false), 'web,app,&box_targets');
    assert.equal(runLimit(undefined, ['web', 'db'], true), 'web,db');
    assert.equal(runLimit('all', ['web'], true), 'all');
  });
});
