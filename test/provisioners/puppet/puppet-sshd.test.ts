/**
 * The puppet provisioner with the host's real puppet (Debian's `puppet` package, as the guests
 * get it) against a real sshd on this host: upload, `puppet apply` as root, exit codes, cleanup.
 */
import assert from 'node:assert/strict';
import {existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {after, before, beforeEach, describe, test} from 'node:test';
import {puppetProvisioner} from '../../../src/provisioners/puppet/puppet.js';
import {puppetSettingsSchema} from '../../../src/provisioners/puppet/settings.js';
import {provisionFixture, type ProvisionFixture} from '../context.js';

describe('puppet apply with the real puppet over SSH', {timeout: 300_000}, () => {
  let f: ProvisionFixture;
  let out: string;
  let runs = 0;
  const settings = (extra: Record<string, unknown>) => puppetSettingsSchema.parse({type: 'puppet', ...extra});
  const boxFolders = () => new Set(readdirSync('/tmp').filter((n) => n.startsWith('box-puppet-')));

  before(async () => {
    f = await provisionFixture();
    const root = f.projectRoot;
    mkdirSync(path.join(root, 'manifests'));
    mkdirSync(path.join(root, 'modules', 'greeting', 'manifests'), {recursive: true});
    writeFileSync(path.join(root, 'modules', 'greeting', 'manifests', 'init.pp'), `
class greeting(String $out, String $word = 'hello') {
  file { "\${out}/greeting.txt": content => "\${word} from \${facts['box_role']}\\n" }
}
`);
    writeFileSync(path.join(root, 'manifests', 'default.pp'), `class { 'greeting': out => $facts['out_dir'], word => lookup('word') }\n`);
    writeFileSync(path.join(root, 'manifests', 'bad.pp'), `file { "\${facts['out_dir']}/missing/dir/file.txt": content => "x" }\n`);
    mkdirSync(path.join(root, 'data'));
    writeFileSync(path.join(root, 'data', 'common.yaml'), `word: bonjour\n`);
    writeFileSync(path.join(root, 'hiera.yaml'), `version: 5\nhierarchy:\n  - name: common\n    path: common.yaml\ndefaults:\n  datadir: ${path.join(root, 'data')}\n  data_hash: yaml_data\n`);
  });

  beforeEach(() => {
    f.lines.length = 0;
    out = path.join(f.sshd.dir, `out-${++runs}`);
    mkdirSync(out);
  });

  after(async () => {
    await f?.dispose();
  });

  test('applies the manifest with modules, hiera data and facter facts; a second run changes nothing; nothing stays in /tmp', async () => {
    const before = boxFolders();
    const config = settings({module_path: ['modules'], hiera_config_path: 'hiera.yaml', facter: {box_role: 'web', out_dir: out}});
    const first = await puppetProvisioner.provision(f.context(), config);
    assert.equal(readFileSync(path.join(out, 'greeting.txt'), 'utf8'), 'bonjour from web\n');
    assert.deepEqual(first, {details: {changed: true, exitCode: 2}});
    assert.ok(f.lines.some((l) => l.startsWith('web:') && /Notice: .*File\[.*greeting\.txt\]\/ensure: defined content/.test(l)), f.lines.join('\n'));
    const again = await puppetProvisioner.provision(f.context(), config);
    assert.deepEqual(again, {details: {changed: false, exitCode: 0}});
    assert.deepEqual([...boxFolders()].filter((n) => !before.has(n)), []);
  });

  test('a failing resource fails the provisioner naming it and puppet\'s exit code, and nothing stays in /tmp', async () => {
    const before = boxFolders();
    await assert.rejects(puppetProvisioner.provision(f.context(), {...settings({manifest_file: 'bad.pp', facter: {out_dir: out}}), name: 'site'}),
      (error: {code: string; message: string; details: Record<string, unknown>}) => {
        assert.equal(error.code, 'ERR_PROVISION_FAILED');
        assert.match(error.message, new RegExp(`^Provisioner "site" \\(puppet\\) failed at resource File\\[${out}/missing/dir/file\\.txt\\]: exit code 4\\.`));
        assert.equal(error.details.exitCode, 4);
        return true;
      });
    assert.deepEqual([...boxFolders()].filter((n) => !before.has(n)), []);
  });

  test('a manifest that does not compile fails with exit code 1 and puppet\'s error in the output', async () => {
    writeFileSync(path.join(f.projectRoot, 'manifests', 'broken.pp'), 'file { "/x" content => }\n');
    await assert.rejects(puppetProvisioner.provision(f.context(), settings({manifest_file: 'broken.pp'})),
      (error: {message: string; details: Record<string, unknown>}) => {
        assert.match(error.message, /^Provisioner "broken.pp" \(puppet\) failed: exit code 1\.[\s\S]*Error: Could not parse/);
        assert.equal(error.details.task, undefined);
        return true;
      });
  });

  test('binary_path naming a folder without puppet fails clearly, before uploading anything', async () => {
    await assert.rejects(puppetProvisioner.provision(f.context(), settings({binary_path: f.sshd.dir})),
      (error: {code: string; message: string}) => {
        assert.equal(error.code, 'ERR_PROVISION_FAILED');
        assert.equal(error.message, `Provisioner "default.pp" (puppet): ${f.sshd.dir}/puppet is not installed in web.`);
        return true;
      });
    assert.equal(existsSync(path.join(out, 'greeting.txt')), false);
  });

  test('a manifest that is not there is refused before anything runs, naming the path', async () => {
    await assert.rejects(puppetProvisioner.provision(f.context(), settings({manifest_file: 'nope.pp'})),
      (error: {code: string; message: string}) => {
        assert.equal(error.code, 'ERR_PROVISION_SOURCE_MISSING');
        assert.equal(error.message, `Provisioner "nope.pp" (puppet): manifest ${path.join(f.projectRoot, 'manifests', 'nope.pp')} not found.`);
        return true;
      });
  });
});
