import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {existsSync} from 'node:fs';
import path from 'node:path';
import {box, boxJson, tempDir} from '../helpers/cli.js';

// `box build` through the built CLI (run `npm run build` first): the JSON contract of
// --dry-run, usage errors and their exit codes. Real builds are in test/builder/debootstrap.e2e.test.ts.
describe('box build command', () => {
  let tmp: {dir: string; cleanup: () => Promise<void>};
  before(async () => {
    tmp = await tempDir('box-build-cli-');
  });
  after(() => tmp.cleanup());

  test('--dry-run --json returns the plan with resolved variables and builds nothing', async () => {
    const out = path.join(tmp.dir, 'out');
    const {result, json} = await boxJson(['build', 'debian-12-minimal', '--dry-run', '--output', out, '--var', 'hostname=ci'], {boxHome: tmp.dir});
    assert.equal(result.exitCode, 0, String(result.stderr));
    assert.equal(json.method, 'debootstrap');
    assert.equal(json.cacheHit, false);
    assert.equal(json.dryRun.variables.hostname, 'ci');
    assert.match(json.dryRun.plan[0], /^debootstrap bookworm/);
    assert.equal(json.box.path, path.join(out, 'debian-12-minimal-12.0.0-libvirt.box'));
    assert.match(json.inputsHash, /^[0-9a-f]{64}$/);
    assert.equal(existsSync(out), false);
  });

  test('a family name (`box build centos`) builds the newest template of the family and says which', async () => {
    const out = path.join(tmp.dir, 'out-centos');
    const {result, json} = await boxJson(['build', 'centos', '--dry-run', '--output', out], {boxHome: tmp.dir});
    assert.equal(result.exitCode, 0, String(result.stderr));
    assert.deepEqual([json.template, json.family, json.name], ['centos-stream-9', 'centos', 'centos-stream-9']);
    assert.match(String(result.stderr), /"centos" is the centos family: using its newest template, centos-stream-9\./);
  });

  test('an unknown template exits 2 with a did-you-mean hint', async () => {
    const result = await box(['build', 'debian-12-minmal'], {boxHome: tmp.dir});
    assert.equal(result.exitCode, 2);
    assert.match(String(result.stderr), /No template named "debian-12-minmal"/);
    assert.match(String(result.stderr), /Did you mean "debian-12-minimal"/);
  });

  test('an undeclared --var exits 2 and --json carries the error code', async () => {
    const {result, json} = await boxJson(['build', 'debian-12-minimal', '--var', 'colour=red', '--dry-run'], {boxHome: tmp.dir});
    assert.equal(result.exitCode, 2);
    assert.equal(json.error.code, 'ERR_TEMPLATE_VAR');
    assert.match(json.error.hint, /Declared variables: mirror, hostname, disk/);
  });

  test('a --var without "=" is a usage error', async () => {
    const result = await box(['build', 'debian-12-minimal', '--var', 'oops', '--dry-run'], {boxHome: tmp.dir});
    assert.equal(result.exitCode, 2);
    assert.match(String(result.stderr), /--var "oops" is not KEY=VALUE/);
  });
});
