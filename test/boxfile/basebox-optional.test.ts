import assert from 'node:assert/strict';
import {describe, test} from 'node:test';
import {loadProject} from '../../src/boxfile/load.js';
import {boxfileProjects, lines, loadErrors} from './helpers.js';

// basebox is needed by targets that boot a box's disk; an aws machine naming its AMI does without.
describe('basebox is optional where the target names the image', () => {
  const {project} = boxfileProjects('box-basebox-optional-');

  test('an aws machine with targets.aws.ami or ami_filter validates without a basebox', async () => {
    const cwd = await project('aws-only', 'target: aws\nmachines:\n  a: {targets: {aws: {ami: ami-0123456789abcdef0}}}\n  b: {targets: {aws: {ami_filter: {owner: "099720109477", name: "ubuntu/images/*"}}}}\n');
    const machines = (await loadProject({cwd})).machines;
    assert.deepEqual(machines.map((m) => [m.name, m.target, m.basebox]), [['a', 'aws', undefined], ['b', 'aws', undefined]]);
  });

  test('a qemu or virtualbox machine without a basebox is still an error at its line:col, naming its target', async () => {
    const cwd = await project('mixed', 'target: aws\ntargets: {aws: {ami: ami-0123456789abcdef0}}\nmachines:\n  cloud: {}\n  local: {target: qemu}\n  vbox:\n    target: virtualbox\n');
    const {error} = await loadErrors({cwd});
    assert.deepEqual(lines(error), [
      'Boxfile:5:3 machines.local.basebox: is required for the qemu target: set basebox at the top of the Boxfile or under machines.local (e.g. "basebox: debian-12"); only an aws machine with targets.aws.ami or ami_filter can do without',
      'Boxfile:6:3 machines.vbox.basebox: is required for the virtualbox target: set basebox at the top of the Boxfile or under machines.vbox (e.g. "basebox: debian-12"); only an aws machine with targets.aws.ami or ami_filter can do without',
    ]);
  });

  test('an aws machine without an AMI still needs a basebox (its AMI comes from the box)', async () => {
    const cwd = await project('aws-no-ami', 'target: aws\ntargets: {aws: {region: eu-west-1}}\n');
    const {error} = await loadErrors({cwd});
    assert.match(lines(error)[0], /^Boxfile:1:1 basebox: is required for the aws target/);
  });

  test('the chosen target decides: --target aws makes a qemu project without basebox valid, and an env can too', async () => {
    const cwd = await project('switch', 'targets: {aws: {ami: ami-0123456789abcdef0}}\nenvironments:\n  cloud: {target: aws}\n');
    await loadErrors({cwd});
    assert.equal((await loadProject({cwd, target: 'aws'})).machines[0].basebox, undefined);
    assert.equal((await loadProject({cwd, env: 'cloud'})).machines[0].target, 'aws');
  });
});
