import assert from 'node:assert/strict';
import {describe, test} from 'node:test';
import {loadProject} from '../../src/boxfile/load.js';
import {BoxError} from '../../src/core/errors.js';
import {checkTargetSettings} from '../../src/services/check-target-settings.js';
import {box} from '../helpers/cli.js';
import {boxfileProjects, lines, loadErrors} from './helpers.js';

const boxfile = `basebox: debian-12
machines:
  web:
    synced_folders:
      - {source: ., destination: /srv/copy}
      - {source: ., destination: /srv/live, type: 9p}
  db:
    synced_folders:
      - source: .
        destination: /srv/db
        type: virtiofs
`;

describe('synced folder types: what each target implements, what each type accepts', () => {
  const projects = boxfileProjects('box-synced-types-');

  test('9p and virtiofs on virtualbox and aws are refused at their Boxfile line, column and field: not supported, exit 2', async () => {
    const cwd = await projects.project('shared', boxfile);
    for (const target of ['virtualbox', 'aws']) {
      const p = await loadProject({cwd, target});
      await assert.rejects(checkTargetSettings(p), (error: unknown) => {
        assert.ok(error instanceof BoxError);
        assert.equal(error.code, 'ERR_NOT_SUPPORTED');
        assert.equal(error.exitCode, 2);
        assert.match(error.message, new RegExp(`Boxfile:6:51 machines\\.web\\.synced_folders\\[1\\]\\.type: synced folder type 9p is not supported on the ${target} target \\(machine web; supported: rsync\\)`, 'm'));
        assert.match(error.message, new RegExp(`Boxfile:11:15 machines\\.db\\.synced_folders\\[0\\]\\.type: synced folder type virtiofs is not supported on the ${target} target`, 'm'));
        assert.ok(!/srv\/copy|synced_folders\[0\]\.type: synced folder type rsync/.test(error.message), 'the rsync folder is fine');
        assert.match(error.hint ?? '', /type: rsync.*\(qemu\)/);
        return true;
      });
    }
    // qemu shares folders live: the same Boxfile passes.
    await checkTargetSettings(await loadProject({cwd, target: 'qemu'}));
  });

  test('`box validate` and `box up` refuse them before creating anything', async () => {
    const cwd = await projects.project('cli', boxfile);
    const validate = await box(['validate', '--target', 'virtualbox'], {cwd, boxHome: projects.home});
    assert.equal(validate.exitCode, 2, String(validate.stderr));
    assert.match(String(validate.stderr), /Boxfile:6:51 machines\.web\.synced_folders\[1\]\.type: synced folder type 9p is not supported on the virtualbox target/);
    const up = await box(['up', 'web', '--target', 'aws'], {cwd, boxHome: projects.home});
    assert.equal(up.exitCode, 2, String(up.stderr));
    assert.match(String(up.stderr), /synced folder type 9p is not supported on the aws target/);
    assert.doesNotMatch(String(up.stderr), /machines\.db/, 'up checks only the machines it brings up');
  });

  test('exclude on a 9p or virtiofs folder is refused at its line: nothing is copied, so nothing can be left out', async () => {
    const cwd = await projects.project('exclude', `basebox: debian-12
synced_folders:
  - {source: ., destination: /srv/a, type: virtiofs, exclude: [node_modules]}
  - {source: ., destination: /srv/b, exclude: [node_modules]}
`);
    const {error} = await loadErrors({cwd});
    assert.deepEqual(lines(error), ['Boxfile:3:63 synced_folders[0].exclude: applies to rsync folders only: a virtiofs folder shares the whole host folder (use type: rsync to leave files out) (got ["node_modules"])']);
  });

  test('gitignore, owner and group on a shared folder are refused at their lines too (they are copy settings)', async () => {
    const cwd = await projects.project('copy-settings', `basebox: debian-12
synced_folders:
  - source: .
    destination: /srv/a
    type: 9p
    gitignore: true
    owner: www-data
    group: www-data
  - {source: ., destination: /srv/b, gitignore: true, owner: www-data}
`);
    const {error} = await loadErrors({cwd});
    assert.deepEqual(lines(error), [
      'Boxfile:6:16 synced_folders[0].gitignore: applies to rsync folders only: a 9p folder shares the whole host folder (use type: rsync to leave files out) (got true)',
      'Boxfile:7:12 synced_folders[0].owner: applies to rsync folders only: a 9p folder shares the whole host folder (its files keep their owners; use type: rsync to set them) (got "www-data")',
      'Boxfile:8:12 synced_folders[0].group: applies to rsync folders only: a 9p folder shares the whole host folder (its files keep their owners; use type: rsync to set them) (got "www-data")',
    ]);
  });
});
