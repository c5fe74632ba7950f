import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {assertExactVersion, compareVersions, VersionConstraint} from '../../src/boxes/version.js';

describe('box versions follow Vagrant (RubyGems) rules', () => {
  test('versions compare segment by segment as numbers, trailing zeros ignored', () => {
    assert.ok(compareVersions('1.10', '1.9') > 0);
    assert.equal(compareVersions('1.0', '1'), 0);
    assert.ok(compareVersions('2024.01.15', '2023.12.31') > 0);
    assert.ok(compareVersions('1.0.0.beta1', '1.0.0') < 0, 'a pre-release sorts before its release');
  });

  test('comma-separated constraints must all hold and the newest match wins', () => {
    const c = new VersionConstraint('>= 1.0, < 2');
    assert.equal(c.newest(['0.9', '1.0.0', '1.5.0', '2.0.0']), '1.5.0');
    assert.equal(new VersionConstraint(undefined).newest(['0.9', '2.0.0', '1.5']), '2.0.0');
    assert.equal(new VersionConstraint('= 1.0').newest(['1.0.0', '1.1']), '1.0.0');
    assert.equal(new VersionConstraint('1.1').newest(['1.0.0', '1.1']), '1.1', 'a bare version means =');
    assert.equal(new VersionConstraint('!= 2.0.0').newest(['1.5.0', '2.0.0']), '1.5.0');
  });

  test('the pessimistic operator ~> bounds the last given segment', () => {
    assert.equal(new VersionConstraint('~> 1.2').newest(['1.1', '1.2', '1.9.9', '2.0']), '1.9.9');
    assert.equal(new VersionConstraint('~> 1.2.3').newest(['1.2.2', '1.2.9', '1.3.0']), '1.2.9');
  });

  test('a malformed constraint is a usage error quoting it', () => {
    assert.throws(() => new VersionConstraint('>= banana!'), (e: Error & {code?: string; exitCode?: number}) => {
      assert.equal(e.code, 'ERR_BOX_VERSION');
      assert.equal(e.exitCode, 2);
      assert.match(e.message, /">= banana!"/);
      return true;
    });
    assert.throws(() => assertExactVersion('>= 1'), /Invalid box version ">= 1"/);
    assert.equal(assertExactVersion('0'), '0');
  });
});
