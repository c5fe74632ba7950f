/**
 * A template's provisioners through the build's runner (runTemplateProvisioners, what the
 * `provision` build step calls) against a real sshd on this host standing in for the build VM,
 * with the host's real ansible-playbook: host-side ansible gets a one-host inventory named after
 * the template, in-guest ones run over the open connection, output carries the template's name,
 * and a failure is the provisioner error. test/e2e/puppet.e2e.test.ts bakes in a real VM.
 */
import assert from 'node:assert/strict';
import {mkdirSync, readFileSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {runTemplateProvisioners} from '../../src/builder/build-provisioners.js';
import {loadTemplate} from '../../src/builder/template.js';
import {provisionFixture, type ProvisionFixture} from '../provisioners/context.js';

describe('template provisioners run by the build against a real sshd', {timeout: 300_000}, () => {
  let f: ProvisionFixture;
  let tpl: string;
  let out: string;

  before(async () => {
    f = await provisionFixture();
    out = path.join(f.sshd.dir, 'out');
    mkdirSync(out);
    tpl = path.join(f.projectRoot, 'web-base');
    mkdirSync(path.join(tpl, 'ansible'), {recursive: true});
    writeFileSync(path.join(tpl, 'ansible', 'site.yml'), [
      '- hosts: all', '  gather_facts: false', '  tasks:',
      '    - copy: {dest: "{{ out }}/ansible.txt", content: "{{ inventory_hostname }} {{ groups[\'all\'] | length }}\\n"}',
    ].join('\n') + '\n');
  });
  after(async () => {
    await f?.dispose();
  });

  const guest = () => {
    const {comm, ssh, ui, signal} = f.context();
    return {comm, ssh, ui, signal};
  };

  test('host-side ansible gets a one-host inventory named after the template; in-guest shell runs after it; output carries the template name', async () => {
    writeFileSync(path.join(tpl, 'template.yaml'), [
      'method: box', 'source: base', 'variables: {word: {default: baked}}', 'provisioners:',
      `  - {type: ansible, name: site, playbook: ansible/site.yml, extra_vars: {out: "${out}"}}`,
      `  - {type: shell, name: mark, privileged: false, inline: "echo {{word}} > ${out}/shell.txt; echo shell-says-hi"}`,
    ].join('\n') + '\n');
    const results = await runTemplateProvisioners(await loadTemplate(tpl), guest());
    assert.deepEqual(results.map((r) => r.name), ['ansible site', 'shell mark']);
    assert.equal(readFileSync(path.join(out, 'ansible.txt'), 'utf8'), 'web-base 1\n');
    assert.equal(readFileSync(path.join(out, 'shell.txt'), 'utf8'), 'baked\n');
    assert.ok(f.lines.some((l) => /web-base.* shell-says-hi$/.test(l)), f.lines.join('\n'));
  });

  test('a failing provisioner stops the list with the provisioner error', async () => {
    writeFileSync(path.join(tpl, 'template.yaml'), [
      'method: box', 'source: base', 'provisioners:',
      '  - {type: shell, name: breaks, privileged: false, inline: "echo about-to-fail; exit 7"}',
      `  - {type: shell, name: never, privileged: false, inline: "touch ${out}/never"}`,
    ].join('\n') + '\n');
    await assert.rejects(runTemplateProvisioners(await loadTemplate(tpl), guest()), (e: Error & {code?: string}) => {
      assert.equal(e.code, 'ERR_PROVISION_FAILED');
      assert.match(e.message, /^Provisioner "breaks" \(shell\) failed: exit code 7\.[\s\S]*about-to-fail/);
      return true;
    });
    assert.throws(() => readFileSync(path.join(out, 'never')));
  });
});
