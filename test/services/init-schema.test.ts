import assert from 'node:assert/strict';
import {after, before, describe, test} from 'node:test';
import path from 'node:path';
import {schemaReference} from '../../src/services/init.js';
import {repoRoot, tempDir} from '../helpers/cli.js';
import {writeFiles} from '../boxfile/helpers.js';

// The $schema line of a new Boxfile is committed with it: it must still point at the schema in
// a teammate's checkout at another path.
describe('the $schema path box init writes', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let box: string;
  before(async () => {
    ({dir, cleanup} = await tempDir('box-init-schema-'));
    // A box package (as a checkout or a global install) and a project that installs box itself.
    box = path.join(dir, 'global', 'lib', 'node_modules', 'box-cli');
    await writeFiles(dir, {
      'global/lib/node_modules/box-cli/package.json': '{"name": "box-cli"}',
      'global/lib/node_modules/box-cli/schemas/boxfile.schema.json': '{}',
      'shop/node_modules/box-cli/schemas/boxfile.schema.json': '{}',
      'shop/services/api/.keep': '',
      'elsewhere/.keep': '',
    });
  });
  after(() => cleanup());

  test('box installed in the project: relative to the Boxfile, through node_modules, from any subfolder', () => {
    assert.equal(schemaReference(path.join(dir, 'shop'), box), './node_modules/box-cli/schemas/boxfile.schema.json');
    assert.equal(schemaReference(path.join(dir, 'shop', 'services', 'api'), box), '../../node_modules/box-cli/schemas/boxfile.schema.json');
  });

  test('a Boxfile inside the box package (its checkout): relative to the Boxfile', () => {
    assert.equal(schemaReference(path.join(repoRoot, 'boxfiles', 'single-vm')), '../../schemas/boxfile.schema.json');
    assert.equal(schemaReference(repoRoot), './schemas/boxfile.schema.json');
  });

  test('a project that does not install box (global install): the installed package, not a path climbing out of the project', () => {
    const written = schemaReference(path.join(dir, 'elsewhere'), box);
    assert.equal(written, path.join(box, 'schemas', 'boxfile.schema.json'));
    assert.ok(!written.startsWith('..'));
  });
});
