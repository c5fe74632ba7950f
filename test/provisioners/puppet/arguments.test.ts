import assert from 'node:assert/strict';
import {describe, test} from 'node:test';
import {facterEnv, failedPuppetResource, puppetApplyArgs, puppetSucceeded} from '../../../src/provisioners/puppet/arguments.js';
import {puppetSettingsSchema} from '../../../src/provisioners/puppet/settings.js';

const settings = (extra: Record<string, unknown> = {}) => puppetSettingsSchema.parse({type: 'puppet', ...extra});

describe('puppet apply arguments', () => {
  test('defaults: manifests/default.pp with detailed exit codes and no colour', () => {
    assert.deepEqual(puppetApplyArgs(settings(), '/tmp/r'), ['apply', '--detailed-exitcodes', '--color=false', '/tmp/r/manifests/default.pp']);
  });

  test('module folders, hiera config and options, then the manifest', () => {
    const args = puppetApplyArgs(settings({manifest_file: 'site.pp', module_path: ['modules', 'vendor'], hiera_config_path: 'hiera.yaml', options: '--verbose  --noop'}), '/tmp/r');
    assert.deepEqual(args, ['apply', '--detailed-exitcodes', '--color=false', '--modulepath', '/tmp/r/modules-0:/tmp/r/modules-1', '--hiera_config', '/tmp/r/hiera.yaml', '--verbose', '--noop', '/tmp/r/manifests/site.pp']);
    // A list of options is taken as it is (an option value may hold spaces).
    assert.deepEqual(puppetApplyArgs(settings({options: ['--tags', 'a b']}), '/tmp/r').slice(3, 5), ['--tags', 'a b']);
  });

  test('facter facts become FACTER_ variables', () => {
    assert.deepEqual(facterEnv({role: 'web', port: 80, debug: false}), {FACTER_role: 'web', FACTER_port: '80', FACTER_debug: 'false'});
    assert.deepEqual(facterEnv(undefined), {});
  });

  test('detailed exit codes: 0 and 2 succeed (2 = changes), 1, 4 and 6 fail', () => {
    assert.deepEqual(puppetSucceeded(0), {ok: true, changed: false});
    assert.deepEqual(puppetSucceeded(2), {ok: true, changed: true});
    for (const code of [1, 4, 6]) assert.equal(puppetSucceeded(code).ok, false, String(code));
  });

  test('the failed resource is the last Type[title] of the error\'s path, titles with slashes included', () => {
    assert.equal(failedPuppetResource('Error: /Stage[main]/Main/File[/x/y]/ensure: change from \'absent\' to \'file\' failed: Could not set'), 'File[/x/y]');
    assert.equal(failedPuppetResource('Error: /Stage[main]/Web::Config/Exec[reload app]/returns: change from \'notrun\' to [\'0\'] failed'), 'Exec[reload app]');
    assert.equal(failedPuppetResource('\u001B[1;31mError: /Stage[main]/Main/Package[nginx]/ensure: failed\u001B[0m'), 'Package[nginx]');
    assert.equal(failedPuppetResource('Error: Could not parse for environment production: Syntax error'), undefined);
    assert.equal(failedPuppetResource('Notice: /Stage[main]/Main/File[/x]/ensure: defined content'), undefined);
  });

  test('settings: unknown keys are refused, module_path takes one folder or a list', () => {
    assert.throws(() => puppetSettingsSchema.parse({type: 'puppet', manifest: 'x.pp'}), /manifest/);
    assert.deepEqual(settings({module_path: 'modules'}).module_path, 'modules');
  });
});
