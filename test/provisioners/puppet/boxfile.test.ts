import assert from 'node:assert/strict';
import path from 'node:path';
import {describe, test} from 'node:test';
import {loadProject} from '../../../src/boxfile/load.js';
import '../../../src/provisioners/registry.js';
import {boxfileProjects, lines, loadErrors} from '../../boxfile/helpers.js';

describe('puppet and chef provisioners in the Boxfile', () => {
  const projects = boxfileProjects('box-puppet-chef-boxfile-');

  test('host folders resolve against the Boxfile\'s folder (one or a list), defaults stay implicit', async () => {
    const root = await projects.project('ok', {
      Boxfile: `basebox: debian-12
provisioners:
  - {type: puppet, name: site, module_path: [modules, vendor], hiera_config_path: hiera.yaml, facter: {role: web}}
  - {type: chef_solo, cookbooks_path: [cookbooks, more], roles_path: roles, run_list: ["recipe[web]"], json: {a: 1}}
  - {type: chef_zero, run_list: [web]}
`,
      'manifests/default.pp': '', 'modules/m/manifests/init.pp': '', 'vendor/v/manifests/init.pp': '', 'hiera.yaml': '', 'cookbooks/web/recipes/default.rb': '', 'more/x/recipes/default.rb': '', 'roles/base.json': '{}',
    });
    const [machine] = (await loadProject({cwd: root})).machines;
    assert.deepEqual(machine!.provisioners[0], {
      type: 'puppet', name: 'site',
      module_path: [path.join(root, 'modules'), path.join(root, 'vendor')], hiera_config_path: path.join(root, 'hiera.yaml'), facter: {role: 'web'},
    });
    assert.deepEqual(machine!.provisioners[1], {type: 'chef_solo', cookbooks_path: [path.join(root, 'cookbooks'), path.join(root, 'more')], roles_path: path.join(root, 'roles'), run_list: ['recipe[web]'], json: {a: 1}});
    assert.deepEqual(machine!.provisioners[2], {type: 'chef_zero', run_list: ['web']});
  });

  test('a missing manifests folder, an unknown key and a missing run_list are errors naming line and field', async () => {
    const root = await projects.project('bad', `basebox: debian-12
provisioners:
  - type: puppet
    manifests_path: nope
  - {type: chef_solo, recipe: web}
`);
    const text = lines((await loadErrors({cwd: root})).error).join('\n');
    assert.match(text, /Boxfile:4:\d+ provisioners\[0\]\.manifests_path: no such file .*nope/);
    assert.match(text, /Boxfile:5:\d+ provisioners\[1\]\.recipe: unknown key/);
    assert.match(text, /Boxfile:5:\d+ provisioners\[1\]\.run_list: /);
  });
});
