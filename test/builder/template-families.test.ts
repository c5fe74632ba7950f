import assert from 'node:assert/strict';
import {cp, readFile, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {familyChoice, resolveTemplate, templateFamilies, type TemplateSummary} from '../../src/builder/template-families.js';
import {BoxError} from '../../src/core/errors.js';
import {repoRoot, tempDir} from '../helpers/cli.js';

const summary = (name: string, os: string | undefined, version: string, extra: Partial<TemplateSummary> = {}): TemplateSummary =>
  ({name, os, version, description: '', method: 'iso', origin: 'builtin', dir: `/t/${name}`, ...extra});

describe('template families', () => {
  test('each os: names a family standing for its newest template by version, whatever the family', () => {
    const families = templateFamilies([
      summary('debian-12-minimal', 'debian', '12.0.0'),
      summary('debian-12', 'debian', '12.11.0'),
      summary('debian-11', 'debian', '11.9.0'),
      summary('alpine-3', 'Alpine', '3.20.0'),
      summary('no-os', undefined, '1.0.0'),
    ]);
    assert.deepEqual([...families.keys()], ['alpine', 'debian']);
    assert.deepEqual(families.get('debian'), {family: 'debian', template: 'debian-12', members: ['debian-12', 'debian-12-minimal', 'debian-11']});
    assert.equal(families.get('alpine')?.template, 'alpine-3');
  });

  test('versions tie by name; templates that do not load, and families named like a template, are left out', () => {
    const families = templateFamilies([
      summary('rocky-b', 'rocky', '9.0.0'),
      summary('rocky-a', 'rocky', '9.0.0'),
      summary('rocky-10', 'rocky', '10.0.0', {error: 'invalid template.yaml'}),
      summary('ubuntu', 'ubuntu', '24.04.0'),
      summary('ubuntu-22.04', 'ubuntu', '22.04.0'),
    ]);
    assert.equal(families.get('rocky')?.template, 'rocky-a');
    assert.equal(families.has('ubuntu'), false);
  });

  describe('resolving a name', () => {
    let tmp: {dir: string; cleanup: () => Promise<void>};
    before(async () => {
      tmp = await tempDir('box-families-');
      // A user template that is a newer rocky than the built-in one.
      await cp(path.join(repoRoot, 'templates', 'rocky-9'), path.join(tmp.dir, 'rocky-10'), {recursive: true});
      const yaml = path.join(tmp.dir, 'rocky-10', 'template.yaml');
      await writeFile(yaml, (await readFile(yaml, 'utf8')).replace(/^version: .*$/m, 'version: "10.0.0"'));
    });
    after(() => tmp.cleanup());

    test('every family the built-in templates declare resolves, and the message says which template it picked', async () => {
      const expected = {centos: 'centos-stream-9', rocky: 'rocky-9', debian: 'debian-12', ubuntu: 'ubuntu-24.04', opensuse: 'opensuse-leap-15.6', windows: 'windows-server-2022'};
      for (const [family, template] of Object.entries(expected)) {
        const ref = await resolveTemplate(family);
        assert.equal(ref.name, template, family);
        assert.equal(ref.dir, path.join(repoRoot, 'templates', template));
      }
      const debian = await resolveTemplate('debian');
      assert.equal(familyChoice('debian', debian), '"debian" is the debian family: using its newest template, debian-12 (others: debian-12-cloud, debian-12-custom, debian-12-minimal; name one to use it).');
      assert.equal(familyChoice('CentOS', await resolveTemplate('CentOS')), '"CentOS" is the centos family: using its newest template, centos-stream-9.');
    });

    test('a template name wins over a family, and templates from --template-dir join the families', async () => {
      const exact = await resolveTemplate('debian-12-minimal');
      assert.equal(exact.family, undefined);
      const rocky = await resolveTemplate('rocky', [tmp.dir]);
      assert.equal(rocky.dir, path.join(tmp.dir, 'rocky-10'));
      assert.deepEqual(rocky.family?.members, ['rocky-10', 'rocky-9']);
    });

    test('an unknown name lists the families in the hint', async () => {
      await assert.rejects(resolveTemplate('fedora'), (error: BoxError) => {
        assert.equal(error.code, 'ERR_TEMPLATE_NOT_FOUND');
        assert.match(error.hint ?? '', /Families \(the newest template of each\): centos → centos-stream-9, debian → debian-12, /);
        return true;
      });
    });
  });
});
