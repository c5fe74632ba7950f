/** Instances of a project (box ci, --instance): their id, root and name. */
import assert from 'node:assert/strict';
import {mkdtemp, rm, writeFile} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {describe, test} from 'node:test';
import {instanceOfRoot, instanceProjectName, instanceRoot, sanitizeInstanceId} from '../../src/boxfile/instance.js';
import {loadProject} from '../../src/boxfile/load.js';
import '../../src/providers/registry.js';

describe('project instances', () => {
  test('ids are lowercase letters, digits and dashes, bounded, and a long one keeps a hash of the whole', () => {
    assert.equal(sanitizeInstanceId('  Feature/ABC_1  '), 'feature-abc-1');
    const long = sanitizeInstanceId(`x${'a'.repeat(100)}`);
    const other = sanitizeInstanceId(`y${'a'.repeat(100)}`);
    assert.ok(long.length <= 40, long);
    assert.notEqual(long, other);
    assert.throws(() => sanitizeInstanceId('///'), /ERR_BAD_INSTANCE|no letter or digit/);
  });

  test('the instance\'s root and name, and the way back from a root', () => {
    assert.equal(instanceRoot('/p', 'gl-1'), '/p/.box/instances/gl-1');
    assert.deepEqual(instanceOfRoot('/p/.box/instances/gl-1'), {folder: '/p', id: 'gl-1'});
    assert.equal(instanceOfRoot('/p'), undefined);
    assert.equal(instanceProjectName('Shop.App', 'gl-1'), 'shop-app-gl-1');
    const name = instanceProjectName('p'.repeat(63), 'x'.repeat(40));
    assert.equal(name.length, 63);
    assert.ok(name.endsWith(`-${'x'.repeat(40)}`));
  });
  test('loadProject with an instance moves only the identity: host paths stay in the Boxfile\'s folder', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'box-instance-'));
    try {
      await writeFile(path.join(dir, 'setup.sh'), 'true\n');
      await writeFile(path.join(dir, 'Boxfile'), 'name: Web_App\nbasebox: debian-12\nprovisioners:\n  - {type: shell, path: setup.sh}\n');
      const plain = await loadProject({cwd: dir});
      const inst = await loadProject({cwd: dir, instance: 'GL 55'});
      assert.equal(plain.root, dir);
      assert.equal(inst.root, path.join(dir, '.box', 'instances', 'gl-55'));
      assert.equal(inst.name, 'web-app-gl-55');
      assert.equal(inst.instance, 'gl-55');
      assert.equal(inst.boxfilePath, plain.boxfilePath);
      assert.deepEqual(inst.machines[0]!.provisioners, plain.machines[0]!.provisioners);
      assert.equal((inst.machines[0]!.provisioners[0] as {path: string}).path, path.join(dir, 'setup.sh'));
    } finally {
      await rm(dir, {recursive: true, force: true});
    }
  });
});
