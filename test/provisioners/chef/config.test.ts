import assert from 'node:assert/strict';
import {describe, test} from 'node:test';
import {chefCommand, chefConfigFile, chefNodeJson, failedChefResource} from '../../../src/provisioners/chef/config.js';
import {chefSoloSettingsSchema, chefZeroSettingsSchema} from '../../../src/provisioners/chef/settings.js';

const solo = (extra: Record<string, unknown> = {}) => chefSoloSettingsSchema.parse({type: 'chef_solo', run_list: ['recipe[web]'], ...extra});
const zero = (extra: Record<string, unknown> = {}) => chefZeroSettingsSchema.parse({type: 'chef_zero', run_list: ['recipe[web]'], ...extra});

describe('chef_solo and chef_zero files and command', () => {
  test('solo.rb names the uploaded folders, the node, the environment and a cache inside the run folder', () => {
    const text = chefConfigFile(solo({cookbooks_path: ['cookbooks', 'vendor'], roles_path: 'roles', data_bags_path: 'bags', environments_path: 'envs', environment: 'dev', log_level: 'warn'}), '/tmp/r', 'web');
    assert.equal(text, [
      '# Written by box for this run.',
      'node_name \'web\'',
      'file_cache_path \'/tmp/r/cache\'',
      'cookbook_path [\'/tmp/r/cookbooks-0\', \'/tmp/r/cookbooks-1\']',
      'role_path \'/tmp/r/roles-0\'',
      'data_bag_path \'/tmp/r/data_bags-0\'',
      'environment_path \'/tmp/r/environments-0\'',
      'environment \'dev\'',
      'log_level :warn',
      '',
    ].join('\n'));
  });

  test('client.rb of chef_zero runs in local mode; Ruby strings are single-quoted so #{} is not interpolated', () => {
    const text = chefConfigFile(zero({node_name: "it's #{x}"}), '/tmp/r', 'web');
    assert.match(text, /^local_mode true$/m);
    assert.match(text, /^chef_repo_path '\/tmp\/r'$/m);
    assert.match(text, /^node_name 'it\\'s #\{x\}'$/m);
    assert.match(text, /^cookbook_path '\/tmp\/r\/cookbooks-0'$/m);
  });

  test('the node JSON carries the json attributes and the run list', () => {
    assert.deepEqual(JSON.parse(chefNodeJson(solo({json: {app: {port: 8080}}, run_list: ['role[base]', 'recipe[web::conf]']}))), {app: {port: 8080}, run_list: ['role[base]', 'recipe[web::conf]']});
  });

  test('the command: chef-solo -c solo.rb -j, chef-client --local-mode -c client.rb -j, from binary_path when set', () => {
    assert.deepEqual(chefCommand(solo(), '/tmp/r'), {program: 'chef-solo', args: ['-c', '/tmp/r/solo.rb', '-j', '/tmp/r/node.json'], configFile: '/tmp/r/solo.rb'});
    assert.deepEqual(chefCommand(zero({binary_path: '/opt/chef/bin/'}), '/tmp/r'), {program: '/opt/chef/bin/chef-client', args: ['--local-mode', '-c', '/tmp/r/client.rb', '-j', '/tmp/r/node.json'], configFile: '/tmp/r/client.rb'});
  });

  test('the failed resource from chef\'s error line', () => {
    assert.equal(failedChefResource('    Error executing action `create` on resource \'file[/etc/x]\''), 'file[/etc/x]');
    assert.equal(failedChefResource('FATAL: Chef::Exceptions::CookbookNotFound'), undefined);
  });

  test('run_list is required', () => {
    assert.throws(() => chefSoloSettingsSchema.parse({type: 'chef_solo'}), /run_list/);
  });
});
