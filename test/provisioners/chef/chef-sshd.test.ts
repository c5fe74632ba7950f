/**
 * chef_solo and chef_zero over a real sshd on this host, against the stand-in chef-solo /
 * chef-client of test/fixtures/chef (Chef is not packaged for Debian 12 and cannot be
 * downloaded here): it checks the config file and node JSON box writes, converges file
 * resources and records what it saw.
 */
import assert from 'node:assert/strict';
import {copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {after, before, beforeEach, describe, test} from 'node:test';
import {chefSoloProvisioner, chefZeroProvisioner} from '../../../src/provisioners/chef/chef.js';
import {chefSoloSettingsSchema, chefZeroSettingsSchema} from '../../../src/provisioners/chef/settings.js';
import {provisionFixture, type ProvisionFixture} from '../context.js';

const STAND_IN = fileURLToPath(new URL('../../fixtures/chef/chef-solo', import.meta.url));

describe('chef_solo and chef_zero over SSH against the stand-in chef', {timeout: 120_000}, () => {
  let f: ProvisionFixture;
  let bin: string;
  let out: string;
  let runs = 0;
  const boxFolders = () => new Set(readdirSync('/tmp').filter((n) => n.startsWith('box-chef-')));
  const recorded = () => readFileSync(path.join(bin, 'runs.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, any>);

  before(async () => {
    f = await provisionFixture();
    bin = path.join(f.sshd.dir, 'chef-bin');
    mkdirSync(bin);
    copyFileSync(STAND_IN, path.join(bin, 'chef-solo'));
    symlinkSync('chef-solo', path.join(bin, 'chef-client'));
  });

  beforeEach(() => {
    f.lines.length = 0;
    out = path.join(f.sshd.dir, `out-${++runs}`);
    mkdirSync(out);
    const root = f.projectRoot;
    rmSync(path.join(root, 'cookbooks'), {recursive: true, force: true});
    mkdirSync(path.join(root, 'cookbooks', 'web', 'recipes'), {recursive: true});
    writeFileSync(path.join(root, 'cookbooks', 'web', 'recipes', 'default.rb'), `file '${out}/motd' do\n  content 'hello'\nend\n`);
    writeFileSync(path.join(root, 'cookbooks', 'web', 'recipes', 'bad.rb'), `file '${out}/no/such/dir' do\n  content 'x'\nend\n`);
    mkdirSync(path.join(root, 'roles'), {recursive: true});
    writeFileSync(path.join(root, 'roles', 'base.json'), JSON.stringify({name: 'base', run_list: ['recipe[web]']}));
    mkdirSync(path.join(root, 'bags', 'users'), {recursive: true});
  });

  after(async () => {
    await f?.dispose();
  });

  test('chef_solo uploads the folders, writes solo.rb and the node JSON, runs chef-solo as root and leaves nothing in /tmp', async () => {
    const before = boxFolders();
    const config = chefSoloSettingsSchema.parse({type: 'chef_solo', roles_path: 'roles', data_bags_path: 'bags', environment: 'dev', run_list: ['role[base]'], json: {app: {port: 8080}}, binary_path: bin});
    await chefSoloProvisioner.provision(f.context(), config);
    assert.equal(readFileSync(path.join(out, 'motd'), 'utf8'), 'hello');
    const run = recorded().at(-1)!;
    assert.equal(run.program, 'chef-solo');
    assert.equal(run.uid, 0);
    assert.match(run.argv[1], /^\/tmp\/box-chef-\w{8}\/solo\.rb$/);
    const remote = path.dirname(run.argv[1]);
    assert.deepEqual(run.argv, ['-c', `${remote}/solo.rb`, '-j', `${remote}/node.json`]);
    assert.deepEqual(run.node, {app: {port: 8080}, run_list: ['role[base]']});
    assert.equal(run.config.cookbook_path, `${remote}/cookbooks-0`);
    assert.equal(run.config.role_path, `${remote}/roles-0`);
    assert.equal(run.config.data_bag_path, `${remote}/data_bags-0`);
    assert.equal(run.config.environment, 'dev');
    assert.equal(run.config.node_name, 'web');
    assert.deepEqual(run.recipes, ['web::default']);
    assert.ok(f.lines.some((l) => l.startsWith('web:') && l.includes('file[') && l.includes('action create')), f.lines.join('\n'));
    assert.equal(existsSync(remote), false, `${remote} was left behind`);
    assert.deepEqual([...boxFolders()].filter((n) => !before.has(n)), []);
  });

  test('chef_zero runs chef-client --local-mode with client.rb', async () => {
    await chefZeroProvisioner.provision(f.context(), chefZeroSettingsSchema.parse({type: 'chef_zero', run_list: ['web'], node_name: 'web-1', binary_path: bin}));
    const run = recorded().at(-1)!;
    assert.equal(run.program, 'chef-client');
    assert.equal(run.argv[0], '--local-mode');
    assert.match(run.argv[2], /\/client\.rb$/);
    assert.equal(run.config.local_mode, 'true');
    assert.equal(run.config.node_name, 'web-1');
    assert.equal(readFileSync(path.join(out, 'motd'), 'utf8'), 'hello');
  });

  test('a failing resource fails naming it and chef\'s exit code, and nothing stays in /tmp', async () => {
    const before = boxFolders();
    await assert.rejects(chefSoloProvisioner.provision(f.context(), {...chefSoloSettingsSchema.parse({type: 'chef_solo', run_list: ['recipe[web::bad]'], binary_path: bin}), name: 'web'}),
      (error: {code: string; message: string; details: Record<string, unknown>}) => {
        assert.equal(error.code, 'ERR_PROVISION_FAILED');
        assert.match(error.message, new RegExp(`^Provisioner "web" \\(chef_solo\\) failed at resource file\\[${out}/no/such/dir\\]: exit code 1\\.`));
        return true;
      });
    assert.deepEqual([...boxFolders()].filter((n) => !before.has(n)), []);
  });

  test('no chef in the guest: a clear error with the install hint', async () => {
    await assert.rejects(chefSoloProvisioner.provision(f.context(), chefSoloSettingsSchema.parse({type: 'chef_solo', run_list: ['web'], binary_path: out})),
      (error: {code: string; message: string; hint: string}) => {
        assert.equal(error.code, 'ERR_PROVISION_FAILED');
        assert.equal(error.message, `Provisioner "web" (chef_solo): ${out}/chef-solo is not installed in web.`);
        assert.match(error.hint, /box does not download Chef's installer/);
        return true;
      });
  });

  test('a cookbooks_path that is not a folder is refused before anything runs', async () => {
    await assert.rejects(chefSoloProvisioner.provision(f.context(), chefSoloSettingsSchema.parse({type: 'chef_solo', cookbooks_path: 'nope', run_list: ['web'], binary_path: bin})),
      (error: {code: string; message: string}) => {
        assert.equal(error.code, 'ERR_PROVISION_SOURCE_MISSING');
        assert.equal(error.message, `Provisioner "web" (chef_solo): cookbooks_path ${path.join(f.projectRoot, 'nope')} is not a folder.`);
        return true;
      });
  });
});
