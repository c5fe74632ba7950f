import assert from 'node:assert/strict';
import {writeFile} from 'node:fs/promises';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {boxJson, tempDir} from '../helpers/cli.js';

describe('--provision-with on the command line', () => {
  let project: Awaited<ReturnType<typeof tempDir>>;
  before(async () => {
    project = await tempDir('box-provision-with-');
    await writeFile(path.join(project.dir, 'Boxfile'), 'basebox: debian-12\nprovisioners:\n  - {type: shell, name: a, inline: "true"}\n  - {type: ansible, name: site, playbook: Boxfile}\n');
  });
  after(async () => {
    await project?.cleanup();
  });

  test('it takes one value per flag (commas for several): a word after it is a machine name', async () => {
    const {result, json} = await boxJson(['provision', '--provision-with', 'a', 'web'], {cwd: project.dir, boxHome: project.dir});
    assert.equal(result.exitCode, 2);
    assert.equal(json.error.code, 'ERR_UNKNOWN_MACHINE');
  });

  test('a name no provisioner has fails before any machine is touched, listing names and types', async () => {
    const {result, json} = await boxJson(['provision', '--provision-with', 'a,nope'], {cwd: project.dir, boxHome: project.dir});
    assert.equal(result.exitCode, 2);
    assert.equal(json.error.code, 'ERR_PROVISIONER_NOT_FOUND');
    assert.match(json.error.hint, /Names: a or site; types: shell or ansible/);
  });

  test('up refuses --provision-with together with --no-provision', async () => {
    const {result} = await boxJson(['up', '--no-provision', '--provision-with', 'a'], {cwd: project.dir, boxHome: project.dir});
    assert.equal(result.exitCode, 2);
  });
});
