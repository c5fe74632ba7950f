/**
 * The ansible provisioners end to end with REAL guests under TCG (two 512 MiB machines of one
 * project, booted at once, shared by the cases) and the host's real ansible-playbook (Debian's
 * `ansible`): the playbook runs ONCE for both machines after both are up, with one generated
 * inventory (groups, box_private_ip), installs a file and a systemd service, and runs again
 * idempotently (changed=0); ansible_local (run: never) installs ansible-core in the guest from
 * Debian's mirror and runs there when named by --provision-with, leaving nothing in /tmp; a
 * failing playbook exits 1 naming the provisioner, the task and ansible's exit code.
 * The test box has python3 (ansible runs its modules with it), as Vagrant's base boxes do.
 */
import assert from 'node:assert/strict';
import {mkdir, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {box, boxJson, tempDir} from '../helpers/cli.js';
import {takeE2eSlot} from '../helpers/e2e-slot.js';
import {addTestBox, ensureTestBox} from '../helpers/test-box.js';
import {removeE2eProject} from '../helpers/e2e-project.js';

const boxfile = `name: play
basebox: debian-12-minimal
targets:
  qemu: {cpus: 2, memory: 512}
networks: [{type: private}]
provisioners:
  - type: ansible
    name: site
    playbook: ansible/site.yml
    groups:
      webservers: [web]
      dbservers: [db]
    become: true
  - type: ansible
    name: broken
    run: never
    playbook: ansible/broken.yml
machines:
  web:
    provisioners:
      - type: ansible_local
        name: local
        run: never
        playbook: ansible/local.yml
        extra_vars: {word: inside}
  db:
`;

const site = `
- hosts: all
  tasks:
    - name: install the site file
      copy:
        dest: /etc/box-ansible.txt
        content: "{{ inventory_hostname }} {{ box_private_ip }} {{ group_names | join(',') }}\\n"
        mode: "0644"
- hosts: webservers
  tasks:
    - name: install the hello unit
      copy:
        dest: /etc/systemd/system/box-hello.service
        content: |
          [Unit]
          Description=box ansible e2e service
          [Service]
          ExecStart=/bin/sleep infinity
          [Install]
          WantedBy=multi-user.target
    - name: start the hello service
      systemd: {name: box-hello, state: started, enabled: true, daemon_reload: true}
`;

const broken = `
- hosts: all
  gather_facts: false
  tasks:
    - name: this one fails
      command: /bin/false
`;

const local = `
- hosts: all
  gather_facts: false
  tasks:
    - name: write from inside
      copy: {dest: "/tmp/box-ansible-local-proof", content: "{{ word }} {{ ansible_connection }} {{ playbook_dir }}\\n"}
`;

describe('ansible and ansible_local on two real qemu guests', {timeout: 40 * 60_000}, () => {
  let release: () => Promise<void>;
  let home: Awaited<ReturnType<typeof tempDir>>;
  let project: Awaited<ReturnType<typeof tempDir>>;
  const run = (args: string[], timeoutMs = 900_000) => box(args, {cwd: project.dir, boxHome: home.dir, timeoutMs});
  const runJson = (args: string[], timeoutMs = 900_000) => boxJson(args, {cwd: project.dir, boxHome: home.dir, timeoutMs});
  const onGuest = async (machine: string, command: string): Promise<string> => {
    const r = await run(['ssh', machine, '-c', command], 60_000);
    assert.equal(r.exitCode, 0, `${machine}: ${command}\n${r.stdout}\n${r.stderr}`);
    return String(r.stdout);
  };

  before(async () => {
    release = await takeE2eSlot();
    await ensureTestBox();
    home = await tempDir('box-e2e-home-');
    project = await tempDir('box-e2e-ansible-');
    await addTestBox(home.dir);
    await writeFile(path.join(project.dir, 'Boxfile'), boxfile);
    await mkdir(path.join(project.dir, 'ansible'));
    await writeFile(path.join(project.dir, 'ansible', 'site.yml'), site);
    await writeFile(path.join(project.dir, 'ansible', 'broken.yml'), broken);
    await writeFile(path.join(project.dir, 'ansible', 'local.yml'), local);
  });

  after(async () => {
    await removeE2eProject(project, home);
    await release?.();
  });

  test('up runs the playbook once for both machines after both are up, with groups and private addresses', async () => {
    const t0 = Date.now();
    const {result, json} = await runJson(['up']);
    assert.equal(result.exitCode, 0, `${result.stderr}\n${JSON.stringify(json?.error ?? json)}`);
    console.log(`# up of two machines with the playbook: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    const stderr = String(result.stderr);
    // One ansible-playbook run: one recap, covering both hosts.
    assert.equal(stderr.match(/PLAY RECAP/g)?.length, 1, stderr);
    assert.equal(json.projectProvisioners.length, 1);
    assert.deepEqual(json.projectProvisioners[0].machines, ['web', 'db']);
    assert.deepEqual(Object.keys(json.projectProvisioners[0].details.recap).sort(), ['db', 'web']);
    assert.ok(json.projectProvisioners[0].details.recap.web.changed >= 3);
    // The run: never ones did not run.
    assert.doesNotMatch(stderr, /broken|this one fails|write from inside/);
    assert.match(await onGuest('web', 'cat /etc/box-ansible.txt'), /^web 10\.\d+\.\d+\.\d+ box_targets,webservers$/);
    assert.match(await onGuest('db', 'cat /etc/box-ansible.txt'), /^db 10\.\d+\.\d+\.\d+ box_targets,dbservers$/);
    assert.equal((await onGuest('web', 'systemctl is-active box-hello')).trim(), 'active');
  });

  test('box provision runs the playbook again idempotently: changed=0 on both', async () => {
    const {result, json} = await runJson(['provision']);
    assert.equal(result.exitCode, 0, `${result.stderr}\n${JSON.stringify(json?.error ?? json)}`);
    const recap = json.projectProvisioners[0].details.recap;
    assert.deepEqual([recap.web.changed, recap.db.changed, recap.web.failed, recap.db.failed], [0, 0, 0, 0]);
  });

  test('ansible_local (run: never) runs in the guest with --provision-with, installing ansible there, and leaves nothing in /tmp', async () => {
    const t0 = Date.now();
    const {result, json} = await runJson(['provision', 'web', '--provision-with', 'local']);
    assert.equal(result.exitCode, 0, `${result.stderr}\n${JSON.stringify(json?.error ?? json)}`);
    console.log(`# ansible_local with ansible-core installed from Debian's mirror in the guest: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    assert.equal(json.projectProvisioners.length, 0);
    assert.doesNotMatch(String(result.stderr), /TASK \[install the site file\]/);
    assert.match(await onGuest('web', 'cat /tmp/box-ansible-local-proof'), /^inside local \/tmp\/box-ansible-\w{8}\/playbook$/);
    assert.equal((await onGuest('web', 'ls -d /tmp/box-ansible-* /tmp/box-shell-* 2>/dev/null | grep -v local-proof || true')).trim(), '');
  });

  test('a failing playbook exits 1 naming the provisioner, the failed task and ansible\'s exit code', async () => {
    const {result, json} = await runJson(['provision', '--provision-with', 'broken']);
    assert.equal(result.exitCode, 1, String(result.stderr));
    assert.equal(json.error.code, 'ERR_PROVISION_FAILED');
    assert.match(json.error.message, /Provisioner "broken" \(ansible\) failed at task "this one fails" on (web|db): exit code 2\./);
    assert.equal(json.error.details.exitCode, 2);
  });
});
