import assert from 'node:assert/strict';
import {describe, test} from 'node:test';
import type {ProvisionerCommon} from '../../src/boxfile/schema.js';
import {checkProvisionWith, parseProvisionWith, selectProvisioners} from '../../src/provisioners/select.js';
import {upSelection} from '../../src/services/up.js';

const configs: ProvisionerCommon[] = [
  {type: 'shell', name: 'base'},
  {type: 'shell', name: 'every-boot', run: 'always'},
  {type: 'ansible', name: 'site', run: 'once'},
  {type: 'shell', name: 'seed', run: 'never'},
];
const names = (list: ProvisionerCommon[]) => list.map((c) => c.name);

describe('which provisioners run (run: once | always | never, --provision-with)', () => {
  test('a provisioning run (first up, box provision, up --provision) runs all but run: never, in order', () => {
    assert.deepEqual(names(selectProvisioners(configs, {reason: 'provision'})), ['base', 'every-boot', 'site']);
  });

  test('an up of a machine provisioned before runs only run: always', () => {
    assert.deepEqual(names(selectProvisioners(configs, {reason: 'up'})), ['every-boot']);
  });

  test('--provision-with runs exactly the named ones, run: never included, matching names or types', () => {
    assert.deepEqual(names(selectProvisioners(configs, {reason: 'provision', provisionWith: ['seed']})), ['seed']);
    assert.deepEqual(names(selectProvisioners(configs, {reason: 'up', provisionWith: ['ansible', 'base']})), ['base', 'site']);
  });

  test('box up decides: --no-provision nothing, first up all, later up always-only, --provision and --provision-with', () => {
    assert.equal(upSelection({provision: false}, false), undefined);
    assert.deepEqual(upSelection({}, false), {reason: 'provision'});
    assert.deepEqual(upSelection({}, true), {reason: 'up'});
    assert.deepEqual(upSelection({provision: true}, true), {reason: 'provision'});
    assert.deepEqual(upSelection({provisionWith: ['seed']}, true), {reason: 'provision', provisionWith: ['seed']});
  });

  test('--provision-with takes a comma-separated list and repeated flags', () => {
    assert.deepEqual(parseProvisionWith(['site,seed', ' base ']), ['site', 'seed', 'base']);
    assert.equal(parseProvisionWith(undefined), undefined);
    assert.throws(() => parseProvisionWith([',']), {exitCode: 2});
  });

  test('a --provision-with name no provisioner has is a usage error listing the names and types there are', () => {
    assert.doesNotThrow(() => checkProvisionWith(['site', 'shell'], configs));
    assert.throws(() => checkProvisionWith(['sitee'], configs), (error: {code: string; exitCode: number; message: string; hint: string}) => {
      assert.equal(error.code, 'ERR_PROVISIONER_NOT_FOUND');
      assert.equal(error.exitCode, 2);
      assert.match(error.message, /"sitee"/);
      assert.match(error.hint, /base, every-boot, site or seed/);
      assert.match(error.hint, /shell or ansible/);
      return true;
    });
  });
});
