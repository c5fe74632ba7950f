import assert from 'node:assert/strict';
import {readdirSync} from 'node:fs';
import {readFile} from 'node:fs/promises';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {parse} from 'yaml';
import {checkTargetSettings} from '../../src/services/check-target-settings.js';
import {loadProject} from '../../src/boxfile/load.js';
import {repoRoot, tempDir} from '../helpers/cli.js';
// Loading a Boxfile needs the registered targets (the CLI registers them the same way).
import '../../src/providers/registry.js';

// The examples are documentation users copy: each must validate as shipped, in every environment.
const examples = [
  path.join(repoRoot, 'Boxfile.example'),
  ...readdirSync(path.join(repoRoot, 'boxfiles'), {withFileTypes: true}).filter((d) => d.isDirectory()).map((d) => path.join(repoRoot, 'boxfiles', d.name, 'Boxfile')),
];

describe('example Boxfiles', () => {
  let cleanup: () => Promise<void>;
  before(async () => {
    const temp = await tempDir('box-examples-');
    cleanup = temp.cleanup;
    process.env.BOX_HOME = temp.dir; // no user config.yaml can leak into the check
  });
  after(async () => {
    delete process.env.BOX_HOME;
    await cleanup();
  });

  test('there are examples for a single VM, web/app/db, aws and ci', () => {
    for (const name of ['single-vm', 'web-app-db', 'aws', 'ci']) {
      assert.ok(examples.includes(path.join(repoRoot, 'boxfiles', name, 'Boxfile')), name);
    }
  });

  for (const file of examples) {
    const label = path.relative(repoRoot, file);
    test(`${label} validates in every environment it declares`, async () => {
      const data = parse(await readFile(file, 'utf8')) as {environments?: Record<string, unknown>};
      for (const env of [undefined, ...Object.keys(data.environments ?? {})]) {
        const project = await loadProject({cwd: path.dirname(file), boxfile: file, env});
        // What `box validate` adds: the checks up makes on each target's settings.
        await checkTargetSettings(project);
        assert.ok(project.machines.length >= 1, `${label} --env ${env}`);
        for (const m of project.machines) assert.ok(m.basebox.name, `${label} ${m.name} has a basebox`);
      }
    });

    test(`${label} points editors at the published JSON schema`, async () => {
      const first = (await readFile(file, 'utf8')).split('\n')[0];
      const match = /^# yaml-language-server: \$schema=(.+)$/.exec(first);
      assert.ok(match, `${label} starts with a yaml-language-server line`);
      assert.equal(path.resolve(path.dirname(file), match[1]), path.join(repoRoot, 'schemas', 'boxfile.schema.json'));
    });
  }

  test('the web/app/db example in prod runs every machine on aws with merged tags', async () => {
    const file = path.join(repoRoot, 'boxfiles', 'web-app-db', 'Boxfile');
    const project = await loadProject({cwd: repoRoot, boxfile: file, env: 'prod'});
    assert.deepEqual(project.machines.map((m) => [m.name, m.target, m.aws.instance_type]), [['web', 'aws', 't3.small'], ['app', 'aws', 't3.small'], ['db', 'aws', 't3.medium']]);
    assert.deepEqual(project.machines[0].aws.tags, {project: 'shop', environment: 'prod'});
  });
});
