import assert from 'node:assert/strict';
import {describe, test} from 'node:test';
import {loadProject} from '../../src/boxfile/load.js';
import {boxfileProjects, lines, loadErrors} from './helpers.js';

// depends_on orders the machines of a project (db before app before web): it must name other
// machines of the Boxfile and never go round in a circle, or the lifecycle would wait for ever.
describe('Boxfile depends_on', () => {
  const {project} = boxfileProjects('box-depends-on-');

  test('is read per machine', async () => {
    const cwd = await project('ok', {Boxfile: 'basebox: debian-12\nmachines:\n  web:\n    depends_on: [app, db]\n  app:\n    depends_on: [db]\n  db:\n'});
    const {machines} = await loadProject({cwd});
    assert.deepEqual(machines.map((m) => [m.name, m.dependsOn ?? []]), [['web', ['app', 'db']], ['app', ['db']], ['db', []]]);
  });

  test('an unknown machine, the machine itself, and a cycle are errors at the entry, with line and column', async () => {
    const cwd = await project('bad', {Boxfile: [
      'basebox: debian-12',
      'machines:',
      '  web:',
      '    depends_on: [apps]',
      '  app:',
      '    depends_on: [db]',
      '  db:',
      '    depends_on:',
      '      - db',
      '      - web',
      '  cache:',
      '    depends_on: [app]',
      '',
    ].join('\n')});
    const {error} = await loadErrors({cwd});
    assert.deepEqual(lines(error), [
      'Boxfile:4:18 machines.web.depends_on[0]: unknown machine (did you mean app?) (got "apps")',
      'Boxfile:9:9 machines.db.depends_on[0]: a machine cannot depend on itself (got "db")',
    ]);
    const cycle = await project('cycle', {Boxfile: 'basebox: debian-12\nmachines:\n  web:\n    depends_on: [app]\n  app:\n    depends_on: [db]\n  db:\n    depends_on: [web]\n'});
    const {error: cycleError} = await loadErrors({cwd: cycle});
    assert.deepEqual(lines(cycleError), ['Boxfile:8:18 machines.db.depends_on[0]: depends_on makes a cycle: web → app → db → web; the machines would wait for each other for ever (got "web")']);
  });

  test('is a property of a machine: not allowed at the top or in an environment', async () => {
    const cwd = await project('misplaced', {Boxfile: 'basebox: debian-12\ndepends_on: [db]\nmachines:\n  db:\nenvironments:\n  prod:\n    machines:\n      db:\n        depends_on: [db]\n'});
    const {error} = await loadErrors({cwd});
    assert.deepEqual(lines(error).map((l) => l.replace(/; allowed here: .*$/, '')), [
      'Boxfile:2:1 depends_on: unknown key',
      'Boxfile:9:9 environments.prod.machines.db.depends_on: unknown key',
    ]);
  });
});
