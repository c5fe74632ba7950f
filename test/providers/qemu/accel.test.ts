import assert from 'node:assert/strict';
import {mkdtemp, rm, writeFile} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {cpuHasVirtualization, detectAccel} from '../../../src/providers/qemu/accel.js';

const withVmx = 'processor\t: 0\nflags\t\t: fpu vme de pse tsc msr vmx sse sse2\n';
const withoutVmx = 'processor\t: 0\nflags\t\t: fpu vme de pse tsc msr sse sse2 hypervisor\n';

describe('accelerator detection', () => {
  let dir: string;
  let fakeKvm: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'box-accel-'));
    fakeKvm = path.join(dir, 'kvm');
    await writeFile(fakeKvm, '');
  });
  after(() => rm(dir, {recursive: true, force: true}));

  test('vmx or svm in the flags line counts as hardware virtualisation, other lines do not', () => {
    assert.equal(cpuHasVirtualization(withVmx), true);
    assert.equal(cpuHasVirtualization('flags : sse svm\n'), true);
    assert.equal(cpuHasVirtualization(withoutVmx), false);
    assert.equal(cpuHasVirtualization('model name : vmx-like cpu\nflags : sse\n'), false);
  });

  test('auto falls back to TCG and says the device is missing', async () => {
    const d = await detectAccel('auto', {kvmDevice: path.join(dir, 'missing'), cpuinfo: withVmx});
    assert.equal(d.accel, 'tcg');
    assert.match(d.reason, /missing does not exist/);
  });

  test('auto falls back to TCG when /dev/kvm opens but the CPU has no vmx/svm (the hang case)', async () => {
    let probed = false;
    const d = await detectAccel('auto', {kvmDevice: fakeKvm, cpuinfo: withoutVmx, probe: async () => { probed = true; return null; }});
    assert.equal(d.accel, 'tcg');
    assert.match(d.reason, /no vmx\/svm/);
    assert.equal(probed, false, 'the QEMU probe is not even tried without CPU support');
  });

  test('auto uses KVM only when the device, the CPU flag and the QEMU probe all agree', async () => {
    assert.equal((await detectAccel('auto', {kvmDevice: fakeKvm, cpuinfo: withVmx, probe: async () => null})).accel, 'kvm');
    const failed = await detectAccel('auto', {kvmDevice: fakeKvm, cpuinfo: withVmx, probe: async () => 'QEMU could not enable KVM: boom'});
    assert.equal(failed.accel, 'tcg');
    assert.match(failed.reason, /boom/);
  });

  test('tcg is honoured without looking at the host', async () => {
    const d = await detectAccel('tcg', {kvmDevice: path.join(dir, 'missing')});
    assert.deepEqual(d.accel, 'tcg');
  });

  test('target kvm that cannot work names the target, says why, and points at target qemu', async () => {
    await assert.rejects(detectAccel('kvm', {kvmDevice: fakeKvm, cpuinfo: withoutVmx, kvmRequiredBy: 'target: kvm'}), (e: any) => {
      assert.equal(e.code, 'ERR_KVM_UNAVAILABLE');
      assert.equal(e.exitCode, 2);
      assert.equal(e.message, `target: kvm requires KVM, but KVM does not work here: ${fakeKvm} exists but the CPU has no vmx/svm flag (nested virtualisation is off).`);
      assert.match(e.hint, /^Use the qemu target instead \(`target: qemu`\): it uses KVM when it works and TCG/);
      return true;
    });
    await assert.rejects(detectAccel('kvm', {kvmDevice: path.join(dir, 'missing'), kvmRequiredBy: '--target kvm'}), /: --target kvm requires KVM, but KVM does not work here: .*missing does not exist/);
  });

  test('an explicit kvm that cannot work is a usage error naming the reason, not a silent fallback', async () => {
    await assert.rejects(detectAccel('kvm', {kvmDevice: fakeKvm, cpuinfo: withoutVmx}), (e: any) => {
      assert.equal(e.code, 'ERR_KVM_UNAVAILABLE');
      assert.equal(e.exitCode, 2);
      assert.match(e.message, /no vmx\/svm/);
      return true;
    });
  });

  test('on this host auto picks TCG within a few seconds and explains why', async () => {
    const t0 = Date.now();
    const d = await detectAccel('auto');
    // This machine's /dev/kvm does not work (see notes); whatever the host, auto must not hang.
    assert.ok(Date.now() - t0 < 10_000);
    if (d.accel === 'tcg') assert.ok(d.reason.length > 10);
  });
});
