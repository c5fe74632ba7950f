import assert from 'node:assert/strict';
import path from 'node:path';
import {describe, test} from 'node:test';
import {loadProject} from '../../../src/boxfile/load.js';
import '../../../src/provisioners/registry.js';
import {boxfileProjects, lines, loadErrors} from '../../boxfile/helpers.js';

describe('ansible provisioners in the Boxfile', () => {
  const projects = boxfileProjects('box-ansible-boxfile-');

  test('host paths resolve against the Boxfile\'s folder, extra_vars files get their @, name and run are kept', async () => {
    const root = await projects.project('ok', {
      Boxfile: `basebox: debian-12
provisioners:
  - {type: ansible, name: site, run: always, playbook: play/site.yml, extra_vars: vars.yml, config_file: ansible.cfg, galaxy_roles_path: roles, groups: {web_servers: [default]}}
  - {type: ansible_local, playbook: play/site.yml, extra_vars: {a: 1}, install: false}
`,
      'play/site.yml': '- hosts: all\n', 'vars.yml': 'a: 1\n', 'ansible.cfg': '',
    });
    const [machine] = (await loadProject({cwd: root})).machines;
    assert.deepEqual(machine!.provisioners[0], {
      type: 'ansible', name: 'site', run: 'always', playbook: path.join(root, 'play/site.yml'), extra_vars: `@${path.join(root, 'vars.yml')}`,
      config_file: path.join(root, 'ansible.cfg'), galaxy_roles_path: path.join(root, 'roles'), groups: {web_servers: ['default']},
    });
    assert.deepEqual(machine!.provisioners[1], {type: 'ansible_local', playbook: path.join(root, 'play/site.yml'), extra_vars: {a: 1}, install: false});
  });

  test('a missing playbook, a bad run, a bad group name and an unknown key are errors naming line and field', async () => {
    const root = await projects.project('bad', `basebox: debian-12
provisioners:
  - type: ansible
    playbook: missing.yml
    run: sometimes
    groups: {"web-servers": [default]}
  - {type: ansible_local, playbook: missing.yml, galaxy_roles_path: roles}
`);
    const {error} = await loadErrors({cwd: root});
    const text = lines(error).join('\n');
    assert.match(text, /Boxfile:5:\d+ provisioners\[0\]\.run: .*once.*always.*never/);
    assert.match(text, /Boxfile:6:\d+ provisioners\[0\]\.groups\.web-servers: .*group name/);
    assert.match(text, /Boxfile:7:\d+ provisioners\[1\]\.galaxy_roles_path: unknown key/);
  });

  test('a playbook that does not exist is reported by validate with its line', async () => {
    const root = await projects.project('missing', `basebox: debian-12
provisioners:
  - type: ansible
    playbook: missing.yml
`);
    const {error} = await loadErrors({cwd: root});
    assert.match(lines(error).join('\n'), /Boxfile:4:\d+ provisioners\[0\]\.playbook: no such file .*missing\.yml/);
  });
});
