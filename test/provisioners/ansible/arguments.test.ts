import assert from 'node:assert/strict';
import {describe, test} from 'node:test';
import {galaxyArgs, playbookArgs, playbookEnv} from '../../../src/provisioners/ansible/arguments.js';
import {AnsibleOutput} from '../../../src/provisioners/ansible/output.js';

describe('ansible-playbook arguments and output', () => {
  test('only the playbook, inventory and limit when nothing else is set', () => {
    assert.deepEqual(playbookArgs({type: 'ansible', playbook: 'site.yml'}, {playbook: '/p/site.yml', inventory: '/t/inv.yml', limit: 'box_targets'}),
      ['--inventory', '/t/inv.yml', '--limit', 'box_targets', '/p/site.yml']);
  });

  test('every setting becomes its flag, in a fixed order', () => {
    const args = playbookArgs({type: 'ansible', playbook: 'site.yml', tags: ['web', 'db'], skip_tags: 'slow', become: true, verbose: 'vvv'},
      {playbook: '/p/site.yml', inventory: '/t/inv.yml', limit: 'x,&box_targets', extraVarsFile: '/t/vars.json', local: true});
    assert.deepEqual(args, ['--inventory', '/t/inv.yml', '--limit', 'x,&box_targets', '--connection', 'local', '--extra-vars', '@/t/vars.json',
      '--tags', 'web,db', '--skip-tags', 'slow', '--become', '-vvv', '/p/site.yml']);
    assert.ok(playbookArgs({type: 'ansible', playbook: 'a', verbose: true}, {playbook: 'a', inventory: 'i', limit: 'l'}).includes('-v'));
    assert.ok(!playbookArgs({type: 'ansible', playbook: 'a', verbose: false, become: false}, {playbook: 'a', inventory: 'i', limit: 'l'}).some((a) => a.startsWith('-v') || a === '--become'));
  });

  test('the environment turns host key checking and retry files off and names the config file', () => {
    assert.deepEqual(playbookEnv({}), {ANSIBLE_HOST_KEY_CHECKING: 'False', ANSIBLE_RETRY_FILES_ENABLED: 'False', PYTHONUNBUFFERED: '1'});
    assert.equal(playbookEnv({config_file: '/p/ansible.cfg'}).ANSIBLE_CONFIG, '/p/ansible.cfg');
    assert.deepEqual(galaxyArgs('/p/req.yml', '/p/roles'), ['install', '--role-file', '/p/req.yml', '--roles-path', '/p/roles', '--force']);
  });

  test('the output reader finds the failed task and host, and the recap of every host', () => {
    const out = new AnsibleOutput();
    for (const line of [
      'PLAY [all] *********',
      'TASK [Gathering Facts] *********',
      'ok: [web]',
      'TASK [install the unit] *********',
      'changed: [web]',
      'fatal: [db]: FAILED! => {"changed": false, "msg": "boom"}',
      'TASK [later] *****',
      'fatal: [web]: FAILED! => {}',
      'PLAY RECAP *********',
      'db                         : ok=1    changed=0    unreachable=0    failed=1    skipped=0    rescued=0    ignored=0',
      'web                        : ok=3    changed=2    unreachable=0    failed=1    skipped=1    rescued=0    ignored=0   ',
    ]) out.line(line);
    assert.equal(out.failedTask, 'install the unit');
    assert.equal(out.failedHost, 'db');
    assert.deepEqual(out.recap.web, {ok: 3, changed: 2, unreachable: 0, failed: 1, skipped: 1, rescued: 0, ignored: 0});
    assert.equal(out.recap.db!.failed, 1);
  });
});
