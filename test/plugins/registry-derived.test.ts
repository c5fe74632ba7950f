import assert from 'node:assert/strict';
import {describe, test} from 'node:test';
import './workbench-target.js';
import {boxfileJsonSchema} from '../../src/boxfile/json-schema.js';
import {loadProject} from '../../src/boxfile/load.js';
import {targetInputNames} from '../../src/boxfile/schema.js';
import {checkTargetSettings} from '../../src/services/check-target-settings.js';
import {renderBoxfile} from '../../src/services/init.js';
import {projectFlags} from '../../src/services/project-flags.js';
import {boxfileProjects, lines, loadErrors} from '../boxfile/helpers.js';

// What issue 11 derives from the target registry, shown with a target registered from test code.
describe('a plug-in target reaches everything derived from the registry', () => {
  const {project} = boxfileProjects('box-registry-derived-');

  test('--target offers it and its aliases, after the built-ins', () => {
    assert.deepEqual(projectFlags.target.options, ['qemu', 'virtualbox', 'aws', 'workbench', 'kvm', 'libvirt', 'bench2', 'wb']);
    assert.deepEqual(targetInputNames(), projectFlags.target.options);
    assert.match(projectFlags.target.description!, /wb: workbench in careful mode/);
  });

  test('box init lists it and writes its starter settings, commented, after the built-ins\'', () => {
    const text = renderBoxfile({basebox: 'debian-12', target: 'wb', name: 'demo', schema: 'schema.json'});
    assert.match(text, /^# Where the machine runs: qemu, virtualbox, aws or workbench \(/m);
    assert.match(text, /^target: wb\n/m);
    assert.match(text, /^  #   ami: ami-0123456789abcdef0\n  # workbench:\n  #   lanes: 2\n/m);
  });

  test('the editor JSON Schema has its name, aliases and settings', () => {
    const boxfile = (boxfileJsonSchema() as any).definitions.Boxfile;
    assert.deepEqual(boxfile.properties.target.enum, ['qemu', 'virtualbox', 'aws', 'workbench', 'kvm', 'libvirt', 'bench2', 'wb']);
    assert.match(boxfile.properties.target.description, /^Where machines run: qemu \(default\), virtualbox, aws or workbench; kvm is qemu with KVM required, libvirt another name for qemu, bench2 another name for workbench, wb workbench in careful mode\./);
    assert.deepEqual(Object.keys(boxfile.properties.targets.properties), ['qemu', 'virtualbox', 'aws', 'workbench']);
    assert.equal(boxfile.properties.targets.properties.workbench.properties.lanes.description, 'Lanes of the workbench.');
  });

  test('its alias forces its setting and its resolve makes the typed config, also in the worker thread of a large Boxfile', async () => {
    const padding = `# ${'padding '.repeat(40)}\n`.repeat(300);
    for (const [name, text] of [['small', 'basebox: debian-12\ntarget: wb\ntargets: {workbench: {lanes: 4}}\n'], ['large', `basebox: debian-12\ntarget: wb\ntargets: {workbench: {lanes: 4}}\n${padding}`]]) {
      const [m] = (await loadProject({cwd: await project(name, text)})).machines;
      assert.deepEqual([m.target, m.targetAlias, (m as any).workbench, m.targetSettings], ['workbench', 'wb', {lanes: 4, mode: 'careful', forcedBy: 'target: wb'}, undefined], name);
      const {error} = await loadErrors({cwd: await project(`${name}-contradiction`, text.replace('lanes: 4', 'mode: fast'))});
      assert.deepEqual(lines(error), ['Boxfile:3:29 targets.workbench.mode: contradicts target: wb (the careful workbench); drop it, or use target: workbench (got "fast")'], name);
    }
    const [defaults] = (await loadProject({cwd: await project('defaults', 'basebox: debian-12\ntarget: bench2\n')})).machines;
    assert.deepEqual([defaults.target, (defaults as any).workbench], ['workbench', {lanes: 1, mode: 'fast', forcedBy: undefined}]);
  });

  test('box validate\'s target settings checks (those up makes) run its own', async () => {
    const cwd = await project('checks', 'basebox: debian-12\ntarget: workbench\nmachines:\n  a: {targets: {workbench: {lanes: 7}}}\n  b: {targets: {workbench: {lanes: 2}}}\n');
    await assert.rejects(checkTargetSettings(await loadProject({cwd})), /^Error: lane 7 is broken: a$/);
    await checkTargetSettings(await loadProject({cwd, target: 'qemu'}));
  });
});
