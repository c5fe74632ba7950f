import assert from 'node:assert/strict';
import {describe, test} from 'node:test';
import {loadProject} from '../../src/boxfile/load.js';
import {boxfileProjects, lines, loadErrors} from './helpers.js';

describe('Boxfile hooks', () => {
  const {project} = boxfileProjects('box-hooks-boxfile-');

  test('each event\'s hooks append across layers, outer first: top level, machine, environment, environment machine', async () => {
    const cwd = await project('layers', {Boxfile: [
      'basebox: debian-12',
      'hooks: {setup: [{run: top}], shutdown: [{run_remote: stop}]}',
      'machines:',
      '  web:',
      '    hooks: {setup: [{run: web}], configure: [{run_remote: reconf, privileged: false}]}',
      '  db:',
      'environments:',
      '  prod:',
      '    hooks: {setup: [{run: prod}]}',
      '    machines:',
      '      web:',
      '        hooks: {setup: [{run: prod-web}]}',
      '',
    ].join('\n')});
    const {machines} = await loadProject({cwd, env: 'prod'});
    const web = machines.find((m) => m.name === 'web')!;
    assert.deepEqual(web.hooks?.setup?.map((h) => h.run), ['top', 'web', 'prod', 'prod-web']);
    assert.deepEqual(web.hooks?.configure, [{run_remote: 'reconf', privileged: false}]);
    assert.deepEqual(web.hooks?.shutdown, [{run_remote: 'stop'}]);
    assert.deepEqual(machines.find((m) => m.name === 'db')!.hooks?.setup?.map((h) => h.run), ['top', 'prod']);
  });

  test('an unknown event and a hook that is neither run nor run_remote are errors at their line', async () => {
    const cwd = await project('bad', {Boxfile: 'basebox: debian-12\nhooks:\n  startup:\n    - run: x\n  setup:\n    - command: x\n'});
    const {error} = await loadErrors({cwd});
    const found = lines(error);
    assert.equal(found.length, 3, found.join('\n'));
    assert.match(found[0]!, /^Boxfile:3:3 hooks\.startup: unknown key/);
    assert.match(found[1]!, /^Boxfile:6:7 hooks\.setup\[0\]: a hook needs exactly one of run \(a command on the host\) or run_remote \(a script in the guest\)$/);
    assert.match(found[2]!, /^Boxfile:6:7 hooks\.setup\[0\]\.command: unknown key/);
  });
});
