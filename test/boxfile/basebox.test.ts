import assert from 'node:assert/strict';
import {describe, test} from 'node:test';
import {constraintError, parseBasebox} from '../../src/boxfile/basebox.js';
import {VersionConstraint} from '../../src/boxes/version.js';
import {diskGiB, memoryMiB} from '../../src/boxfile/sizes.js';

describe('basebox syntax', () => {
  test('a store name with a comma constraint keeps the constraint the store will match', () => {
    const parsed = parseBasebox('debian-12@>= 1.0, < 2', '/p');
    assert.ok(parsed.ok);
    assert.deepEqual(parsed.ref, {raw: 'debian-12@>= 1.0, < 2', kind: 'store', name: 'debian-12', versionConstraint: '>= 1.0, < 2'});
    assert.equal(new VersionConstraint(parsed.ref.versionConstraint).newest(['0.9.0', '1.4.0', '2.0.0']), '1.4.0');
  });

  test('Vagrant constraint forms are accepted', () => {
    for (const c of ['~> 1.2', '~> 1.2.3', '= 3', '!= 1.1', '1.2.3', '> 1, <= 2.5', '2024.01.15']) {
      assert.equal(constraintError(c), undefined, c);
    }
  });

  test('an org/name store name is accepted', () => {
    const parsed = parseBasebox('generic/debian12', '/p');
    assert.ok(parsed.ok);
    assert.equal(parsed.ref.name, 'generic/debian12');
  });

  test('relative and absolute paths and bare .box names are files resolved against the declaring folder', () => {
    for (const [raw, name] of [['./x.box', '/p/x.box'], ['../y.box', '/y.box'], ['/abs/z.box', '/abs/z.box'], ['plain.box', '/p/plain.box']]) {
      const parsed = parseBasebox(raw, '/p');
      assert.ok(parsed.ok, raw);
      assert.deepEqual([parsed.ref.kind, parsed.ref.name], ['file', name]);
    }
  });

  test('http and https URLs are urls; other schemes are refused', () => {
    const parsed = parseBasebox('https://example.com/debian.json', '/p');
    assert.ok(parsed.ok);
    assert.equal(parsed.ref.kind, 'url');
    const ftp = parseBasebox('ftp://example.com/x.box', '/p');
    assert.equal(ftp.ok, false);
  });

  test('a store name longer than the command line accepts is refused with the same limit', () => {
    const parsed = parseBasebox('n'.repeat(300), '/p');
    assert.equal(parsed.ok, false);
    assert.match(!parsed.ok ? parsed.message : '', /is 300 characters long \(at most 128, as for `box box add`\)/);
    assert.ok(parseBasebox('n'.repeat(128), '/p').ok);
  });

  test('bad names and constraints are refused with a message naming the bad part', () => {
    const cases: Array<[string, RegExp]> = [
      ['debian 12', /"debian 12" is not a box name/],
      ['debian-12@', /empty version constraint/],
      ['debian-12@>= 1.0,', /empty part/],
      ['debian-12@latest', /"latest" is not a version constraint/],
      ['debian-12@>= x', /">= x" is not a version constraint/],
    ];
    for (const [raw, message] of cases) {
      const parsed = parseBasebox(raw, '/p');
      assert.equal(parsed.ok, false, raw);
      assert.match((parsed as {message: string}).message, message, raw);
    }
  });
});

describe('sizes', () => {
  test('memory numbers are MiB and units are binary', () => {
    assert.deepEqual([memoryMiB(512), memoryMiB('2G'), memoryMiB('2GiB'), memoryMiB('1536M'), memoryMiB('1.5g'), memoryMiB('1048576K')], [512, 2048, 2048, 1536, 1536, 1024]);
  });

  test('disk numbers are GiB and smaller units round up to whole GiB', () => {
    assert.deepEqual([diskGiB(10), diskGiB('20G'), diskGiB('512M'), diskGiB('1T')], [10, 20, 1, 1024]);
  });
});
