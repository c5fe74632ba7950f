import assert from 'node:assert/strict';
import {describe, test} from 'node:test';
import {builtInDefaults} from '../../../src/boxfile/defaults.js';
import type {MachineConfig} from '../../../src/boxfile/project.js';
import {toMachineConfig} from '../../../src/boxfile/resolve.js';
import {withBoxSettings} from '../../../src/providers/shared/box-settings.js';
// Loading a Boxfile needs the registered targets (the CLI registers them the same way).
import '../../../src/providers/registry.js';

/** The machine of a Boxfile that says only `basebox: b` (every other setting a built-in default). */
const machine = (setByUser?: string[]): MachineConfig => ({
  ...toMachineConfig('default', {...builtInDefaults(), basebox: 'b'}, '/p'),
  ...(setByUser ? {setByUser} : {}),
});

const box = {ssh: {username: 'debian', port: 2222, privateKeyPath: '/store/b/0/libvirt/vagrant_private_key'}, libvirt: {memoryMiB: 512, cpus: 1}};

describe('a box\'s Vagrantfile settings under the user\'s', () => {
  test('they replace built-in defaults; the packed key is the key of the first login only', () => {
    const {machine: m, firstLoginKey} = withBoxSettings(machine(['basebox']), box);
    assert.deepEqual([m.ssh.username, m.ssh.port, m.qemu.memoryMiB, m.qemu.cpus], ['debian', 2222, 512, 1]);
    assert.equal(m.ssh.privateKeyPath, undefined, 'the machine key still replaces it');
    assert.equal(firstLoginKey, box.ssh.privateKeyPath);
  });

  test('what the user set wins, each setting on its own', () => {
    const {machine: m, firstLoginKey} = withBoxSettings(machine(['basebox', 'ssh.username', 'targets.qemu.memory', 'ssh.private_key_path']), box);
    assert.deepEqual([m.ssh.username, m.ssh.port, m.qemu.memoryMiB, m.qemu.cpus], ['vagrant', 2222, 1024, 1]);
    assert.equal(firstLoginKey, undefined);
  });

  test('a machine without the record of what the user set, or a box without a Vagrantfile, is left as it is', () => {
    assert.deepEqual(withBoxSettings(machine(), box), {machine: machine()});
    assert.deepEqual(withBoxSettings(machine(['basebox']), undefined), {machine: machine(['basebox'])});
  });
});
