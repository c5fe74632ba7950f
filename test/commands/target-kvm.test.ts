/**
 * `target: kvm` through the CLI on this machine, without booting a guest: up requires KVM and,
 * where KVM does not work (as on machines without vmx/svm, like this one), fails before
 * anything is created, saying why.
 */
import assert from 'node:assert/strict';
import {constants, existsSync} from 'node:fs';
import {access, readFile, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {cpuHasVirtualization} from '../../src/providers/qemu/accel.js';
import {box, boxJson, tempDir} from '../helpers/cli.js';

describe('target kvm and libvirt through the CLI', () => {
  let home: Awaited<ReturnType<typeof tempDir>>;
  let project: Awaited<ReturnType<typeof tempDir>>;

  before(async () => {
    home = await tempDir('box-kvm-home-');
    project = await tempDir('box-kvm-project-');
    await writeFile(path.join(project.dir, 'Boxfile'), 'basebox: no-such-box\ntarget: kvm\nmachines:\n  web:\n  db: {target: libvirt}\n');
  });
  after(async () => {
    await project.cleanup();
    await home.cleanup();
  });

  test('validate shows kvm and libvirt as the qemu target and says what each means', async () => {
    const result = await box(['validate'], {cwd: project.dir, boxHome: home.dir});
    assert.equal(result.exitCode, 0, String(result.stderr));
    assert.match(String(result.stdout), /web\s+target qemu \(kvm: QEMU with KVM required\)/);
    assert.match(String(result.stdout), /db\s+target qemu \(libvirt: box runs QEMU itself, without libvirtd\)/);
    const {json} = await boxJson(['validate', '--target', 'libvirt'], {cwd: project.dir, boxHome: home.dir});
    assert.deepEqual(json.machines.map((m: any) => [m.target, m.targetAlias, m.qemu.accel]), [['qemu', 'libvirt', 'auto'], ['qemu', 'libvirt', 'auto']]);
  });

  test('up of a kvm machine fails at once where KVM does not work, saying why, and creates nothing', async () => {
    const kvmOpens = await access('/dev/kvm', constants.R_OK | constants.W_OK).then(() => true, () => false);
    const cpuSupportsKvm = cpuHasVirtualization(await readFile('/proc/cpuinfo', 'utf8'));
    const {result, json} = await boxJson(['up', 'web'], {cwd: project.dir, boxHome: home.dir});
    assert.equal(existsSync(path.join(project.dir, '.box', 'machines', 'web', 'disk.qcow2')), false);
    if (kvmOpens && cpuSupportsKvm) {
      // A host where KVM may work: up gets past the KVM check (then stops: the box does not exist).
      assert.notEqual(json.error?.code, 'ERR_KVM_UNAVAILABLE', String(result.stderr));
      return;
    }
    assert.equal(result.exitCode, 2, String(result.stderr));
    assert.equal(json.error.code, 'ERR_KVM_UNAVAILABLE');
    assert.match(json.error.message, /^target: kvm requires KVM, but KVM does not work here: \/dev\/kvm (does not exist|cannot be opened|exists but the CPU has no vmx\/svm flag)/);
    assert.match(json.error.hint, /`target: qemu`/);
    assert.match(String(result.stderr), /web: target kvm is box's qemu target \(QEMU with KVM required\)/);
  });
});
