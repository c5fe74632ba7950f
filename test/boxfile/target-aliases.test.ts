import assert from 'node:assert/strict';
import {describe, test} from 'node:test';
import {boxfileJsonSchema} from '../../src/boxfile/json-schema.js';
import {loadProject} from '../../src/boxfile/load.js';
import {boxfileProjects, lines, loadErrors} from './helpers.js';

// `target: kvm` and `target: libvirt` are how many users name the qemu target.
describe('target aliases kvm and libvirt', () => {
  const {project} = boxfileProjects('box-target-alias-');

  test('kvm is the qemu target with KVM required; libvirt is the qemu target as it is', async () => {
    const cwd = await project('aliases', 'basebox: debian-12\ntargets: {qemu: {memory: 512M}}\nmachines:\n  a: {target: kvm}\n  b: {target: libvirt}\n  c: {target: qemu}\n');
    const [a, b, c] = (await loadProject({cwd})).machines;
    assert.deepEqual([a.target, a.targetAlias, a.qemu.accel, a.qemu.kvmRequiredBy, a.qemu.memoryMiB], ['qemu', 'kvm', 'kvm', 'target: kvm', 512]);
    assert.deepEqual([b.target, b.targetAlias, b.qemu.accel, b.qemu.kvmRequiredBy], ['qemu', 'libvirt', 'auto', undefined]);
    assert.deepEqual([c.target, c.targetAlias, c.qemu.accel], ['qemu', undefined, 'auto']);
  });

  test('--target kvm requires KVM for every machine, over the Boxfile\'s accel', async () => {
    const cwd = await project('flag', 'basebox: debian-12\ntarget: aws\ntargets: {qemu: {accel: tcg}}\n');
    const [m] = (await loadProject({cwd, target: 'kvm'})).machines;
    assert.deepEqual([m.target, m.targetAlias, m.qemu.accel, m.qemu.kvmRequiredBy], ['qemu', 'kvm', 'kvm', '--target kvm']);
  });

  test('a Boxfile over 64 KiB, loaded in the worker thread, knows the built-in targets and what kvm forces', async () => {
    const padding = `# ${'padding '.repeat(40)}\n`.repeat(300);
    const cwd = await project('large', `basebox: debian-12\ntarget: kvm\ntargets: {qemu: {memory: 512M}, virtualbox: {cpus: 3}}\n${padding}`);
    const [m] = (await loadProject({cwd})).machines;
    assert.deepEqual([m.target, m.targetAlias, m.qemu.accel, m.qemu.kvmRequiredBy, m.qemu.memoryMiB, m.virtualbox.cpus], ['qemu', 'kvm', 'kvm', 'target: kvm', 512, 3]);
    const {error} = await loadErrors({cwd: await project('large-contradiction', `basebox: debian-12\ntarget: kvm\ntargets: {qemu: {accel: tcg}}\n${padding}`)});
    assert.deepEqual(lines(error), ['Boxfile:3:25 targets.qemu.accel: contradicts target: kvm (QEMU with KVM required); drop it, or use target: qemu for TCG (got "tcg")']);
  });

  test('target: kvm with accel: tcg in the Boxfile is a contradiction, reported at accel', async () => {
    const cwd = await project('contradiction', 'basebox: debian-12\ntarget: kvm\nmachines:\n  web: {targets: {qemu: {accel: tcg}}}\n');
    const {error} = await loadErrors({cwd});
    assert.deepEqual(lines(error), ['Boxfile:4:33 machines.web.targets.qemu.accel: contradicts target: kvm (QEMU with KVM required); drop it, or use target: qemu for TCG (got "tcg")']);
  });

  test('settings under targets.kvm or targets.libvirt say where they belong; a typo suggests the alias', async () => {
    const cwd = await project('settings', 'basebox: debian-12\ntarget: kvmm\ntargets:\n  libvirt: {memory: 1G}\n');
    const {error} = await loadErrors({cwd});
    assert.deepEqual(lines(error), [
      'Boxfile:2:9 target: expected one of qemu, virtualbox, aws, kvm, libvirt (did you mean kvm?) (got "kvmm")',
      'Boxfile:4:3 targets.libvirt: unknown key (target libvirt is the qemu target: its settings go under targets.qemu)',
    ]);
  });

  test('the JSON schema editors use accepts the aliases too', () => {
    const schema = boxfileJsonSchema() as {definitions: {Boxfile: {properties: {target: {enum: string[]; description: string}}}}};
    assert.deepEqual(schema.definitions.Boxfile.properties.target.enum, ['qemu', 'virtualbox', 'aws', 'kvm', 'libvirt']);
    assert.match(schema.definitions.Boxfile.properties.target.description, /kvm is qemu with KVM required/);
  });
});
