/**
 * The ansible provisioners with the host's real ansible-playbook (Debian's `ansible`) against a
 * real sshd on this host (the "guests" are two inventory hosts on that one server). The e2e in
 * test/e2e/ansible.e2e.test.ts does the same against real QEMU guests.
 */
import assert from 'node:assert/strict';
import {existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {after, before, beforeEach, describe, test} from 'node:test';
import {ansibleLocalProvisioner} from '../../../src/provisioners/ansible/ansible-local.js';
import {ansibleProvisioner} from '../../../src/provisioners/ansible/ansible.js';
import type {ProjectProvisionContext} from '../../../src/provisioners/provisioner.js';
import {provisionFixture, type ProvisionFixture} from '../context.js';

const PLAYBOOK = `
- hosts: all
  gather_facts: false
  tasks:
    - name: write the host's file
      copy:
        dest: "{{ out }}/{{ inventory_hostname }}.txt"
        content: "{{ greeting }} from {{ box_machine }} in {{ box_project }}\\n"
- hosts: frontend
  gather_facts: false
  tasks:
    - name: mark the frontend
      copy:
        dest: "{{ out }}/{{ inventory_hostname }}.frontend"
        content: "yes\\n"
`;

const FAILING = `
- hosts: all
  gather_facts: false
  tasks:
    - name: fine
      command: "true"
    - name: breaks on purpose
      command: "false"
`;

describe('ansible and ansible_local with the real ansible-playbook', {timeout: 300_000}, () => {
  let f: ProvisionFixture;
  let out: string;
  let runs = 0;

  before(async () => {
    f = await provisionFixture();
    mkdirSync(path.join(f.projectRoot, 'play'));
    writeFileSync(path.join(f.projectRoot, 'play', 'site.yml'), PLAYBOOK);
    writeFileSync(path.join(f.projectRoot, 'play', 'failing.yml'), FAILING);
  });

  beforeEach(() => {
    f.lines.length = 0;
    out = path.join(f.sshd.dir, `out-${++runs}`);
    mkdirSync(out);
  });

  after(async () => {
    await f?.dispose();
  });

  const projectContext = (targets: string[]): ProjectProvisionContext => {
    const {ssh, ui, signal, projectRoot} = f.context();
    return {
      project: {name: 'shop', environment: 'dev'},
      machines: [{name: 'web', ssh, privateIp: '192.168.56.10'}, {name: 'db', ssh}],
      targets, ui, signal, projectRoot, outputPrefix: targets.join(','),
    };
  };

  test('one run covers every target machine, with the groups and extra vars, and a second run changes nothing', async () => {
    const config = {type: 'ansible' as const, playbook: 'play/site.yml', groups: {frontend: ['web']}, extra_vars: {out, greeting: 'hello world'}};
    const first = await ansibleProvisioner.provisionProject!(projectContext(['web', 'db']), config);
    assert.equal(readFileSync(path.join(out, 'web.txt'), 'utf8'), 'hello world from web in shop\n');
    assert.equal(readFileSync(path.join(out, 'db.txt'), 'utf8'), 'hello world from db in shop\n');
    assert.ok(existsSync(path.join(out, 'web.frontend')));
    assert.ok(!existsSync(path.join(out, 'db.frontend')));
    const recap = (first as {details: {recap: Record<string, {changed: number}>}}).details.recap;
    assert.deepEqual(Object.keys(recap).sort(), ['db', 'web']);
    assert.equal(recap.web!.changed, 2);
    // Output streams line by line with the run's prefix.
    assert.ok(f.lines.some((l) => l.startsWith('web,db') && l.includes('TASK [write the host\'s file]')), f.lines.join('\n'));
    const again = await ansibleProvisioner.provisionProject!(projectContext(['web', 'db']), config);
    assert.deepEqual(Object.values((again as {details: {recap: Record<string, {changed: number}>}}).details.recap).map((r) => r.changed), [0, 0]);
  });

  test('only the target machines are provisioned, and a user limit narrows them further', async () => {
    await ansibleProvisioner.provisionProject!(projectContext(['db']), {type: 'ansible', playbook: 'play/site.yml', groups: {frontend: ['web']}, extra_vars: {out, greeting: 'hi'}});
    assert.deepEqual(readdirSync(out), ['db.txt']);
    await ansibleProvisioner.provisionProject!(projectContext(['web', 'db']), {type: 'ansible', playbook: 'play/site.yml', limit: 'frontend', groups: {frontend: ['web']}, extra_vars: {out, greeting: 'hi'}});
    assert.deepEqual(readdirSync(out).sort(), ['db.txt', 'web.frontend', 'web.txt']);
  });

  test('a failing play fails naming the provisioner, the task, the host and ansible\'s exit code', async () => {
    await assert.rejects(ansibleProvisioner.provisionProject!(projectContext(['web']), {type: 'ansible', name: 'site', playbook: 'play/failing.yml'}),
      (error: {code: string; exitCode: number; message: string; details: Record<string, unknown>}) => {
        assert.equal(error.code, 'ERR_PROVISION_FAILED');
        assert.equal(error.exitCode, 1);
        assert.match(error.message, /^Provisioner "site" \(ansible\) failed at task "breaks on purpose" on web: exit code 2\./);
        assert.equal(error.details.exitCode, 2);
        assert.equal(error.details.task, 'task "breaks on purpose"');
        return true;
      });
  });

  test('ansible_local runs the playbook in the "guest" with a local connection and removes its folder from /tmp', async () => {
    writeFileSync(path.join(f.projectRoot, 'play', 'where.yml'), `
- hosts: all
  gather_facts: false
  tasks:
    - copy: {dest: "{{ out }}/{{ inventory_hostname }}-{{ ansible_connection }}", content: "{{ playbook_dir }}\\n"}
`);
    const outcome = await ansibleLocalProvisioner.provision(f.context(), {type: 'ansible_local', playbook: 'play/where.yml', extra_vars: {out}});
    const folder = readFileSync(path.join(out, 'web-local'), 'utf8').trim();
    assert.match(folder, /^\/tmp\/box-ansible-\w{8}\/playbook$/);
    assert.equal(existsSync(path.dirname(folder)), false, `${path.dirname(folder)} was left behind`);
    assert.equal((outcome as {details: {recap: Record<string, {changed: number}>}}).details.recap.web!.changed, 1);
  });

  test('a failing ansible_local run names the task and exit code and leaves nothing in /tmp', async () => {
    // The "guest" is this host, whose /tmp other test files share: count only folders of the
    // guest's shape (mktemp's 8 characters; the host side's mkdtemp folders have 6).
    const guestFolders = (): string[] => readdirSync('/tmp').filter((n) => /^box-ansible-[A-Za-z0-9]{8}$/.test(n));
    const before = new Set(guestFolders());
    await assert.rejects(ansibleLocalProvisioner.provision(f.context(), {type: 'ansible_local', playbook: 'play/failing.yml'}),
      /Provisioner "failing.yml" \(ansible_local\) failed at task "breaks on purpose" on web: exit code 2\./);
    const left = guestFolders().filter((n) => !before.has(n));
    assert.deepEqual(left, []);
  });
});
