/**
 * Pure pieces of the virtualbox provider: parsing VBoxManage's output, building its arguments,
 * turning its errors into typed errors, and reconciling the record with `showvminfo`.
 */
import assert from 'node:assert/strict';
import {describe, test} from 'node:test';
import {BoxError} from '../../../src/core/errors.js';
import {configureArgs, importArgs, linkedCloneArgs, natRule, natRules, startArgs} from '../../../src/providers/virtualbox/args.js';
import {vboxError, vboxErrorText} from '../../../src/providers/virtualbox/errors.js';
import {parseMachineReadable, parseNatRule, parseVmInfo, parseVmList} from '../../../src/providers/virtualbox/machine-readable.js';
import type {VirtualboxMachineState} from '../../../src/providers/virtualbox/machine-state.js';
import {masterName} from '../../../src/providers/virtualbox/master.js';
import {reconcileVbox} from '../../../src/providers/virtualbox/reconcile.js';
import {locateVBoxManage} from '../../../src/providers/virtualbox/vboxmanage.js';
import {vmNameFor} from '../../../src/providers/virtualbox/virtualbox-provider.js';

// Shaped like VirtualBox 7's `showvminfo --machinereadable` (trimmed).
const SHOWVMINFO = `name="box-shop-web-1a2b3c"
Encryption="disabled"
groups="/"
ostype="Debian (64-bit)"
UUID="6f1c0d3e-2b7a-4c55-9a57-0e6d9f1a2b3c"
CfgFile="/home/u/VirtualBox VMs/box-shop-web-1a2b3c/box-shop-web-1a2b3c.vbox"
memory=2048
vram=16
cpus=2
VMState="running"
VMStateChangeTime="2024-05-01T10:00:00.000000000"
"SATA Controller-0-0"="/home/u/VirtualBox VMs/box-shop-web-1a2b3c/box-disk001.vmdk"
natnet1="nat"
nic1="nat"
Forwarding(0)="ssh,tcp,127.0.0.1,2222,,22"
Forwarding(1)="tcp8080,tcp,127.0.0.1,8080,,80"
description="a \\"quoted\\" word and a back\\\\slash"
SnapshotName="base"
SnapshotUUID="11111111-2222-3333-4444-555555555555"
SnapshotName-1="later"
`;

describe('VBoxManage output parsing', () => {
  test('machine-readable lines become facts, with quoted keys, bare numbers and escapes', () => {
    const facts = parseMachineReadable(SHOWVMINFO);
    assert.equal(facts.get('name'), 'box-shop-web-1a2b3c');
    assert.equal(facts.get('memory'), '2048');
    assert.equal(facts.get('SATA Controller-0-0'), '/home/u/VirtualBox VMs/box-shop-web-1a2b3c/box-disk001.vmdk');
    assert.equal(facts.get('description'), 'a "quoted" word and a back\\slash');
  });

  test('showvminfo gives name, UUID, VMState, sizes, NAT rules and snapshots', () => {
    const vm = parseVmInfo(SHOWVMINFO);
    assert.equal(vm.uuid, '6f1c0d3e-2b7a-4c55-9a57-0e6d9f1a2b3c');
    assert.equal(vm.state, 'running');
    assert.equal(vm.cpus, 2);
    assert.equal(vm.memoryMiB, 2048);
    assert.deepEqual(vm.forwards.map((r) => [r.name, r.hostIp, r.hostPort, r.guestPort]), [['ssh', '127.0.0.1', 2222, 22], ['tcp8080', '127.0.0.1', 8080, 80]]);
    assert.deepEqual(vm.snapshots, ['base', 'later']);
  });

  test('a NAT rule that is not six fields or not tcp/udp is ignored, not misread', () => {
    assert.equal(parseNatRule('ssh,tcp,127.0.0.1,2222,22'), undefined);
    assert.equal(parseNatRule('ssh,icmp,127.0.0.1,2222,,22'), undefined);
    assert.deepEqual(parseNatRule('dns,udp,,5353,10.0.2.15,53'), {name: 'dns', protocol: 'udp', hostIp: '', hostPort: 5353, guestIp: '10.0.2.15', guestPort: 53});
  });

  test('list vms lines give names (with spaces) and UUIDs', () => {
    assert.deepEqual(parseVmList('"my vm" {6f1c0d3e-2b7a-4c55-9a57-0e6d9f1a2b3c}\n"<inaccessible>" {aaaaaaaa-2b7a-4c55-9a57-0e6d9f1a2b3c}\n'), [
      {name: 'my vm', uuid: '6f1c0d3e-2b7a-4c55-9a57-0e6d9f1a2b3c'},
      {name: '<inaccessible>', uuid: 'aaaaaaaa-2b7a-4c55-9a57-0e6d9f1a2b3c'},
    ]);
  });
});

describe('VBoxManage arguments', () => {
  test('import names the VM and sets cpus and memory on virtual system 0', () => {
    assert.deepEqual(importArgs('/b/box.ovf', {vmName: 'vm1', cpus: 2, memoryMiB: 1024}), ['import', '/b/box.ovf', '--vsys', '0', '--vmname', 'vm1', '--cpus', '2', '--memory', '1024']);
    assert.deepEqual(importArgs('/b/box.ovf', {vmName: 'master'}), ['import', '/b/box.ovf', '--vsys', '0', '--vmname', 'master']);
  });

  test('a linked clone is cloned from the snapshot with --options link and registered', () => {
    assert.deepEqual(linkedCloneArgs('m', 'base', 'vm1'), ['clonevm', 'm', '--snapshot', 'base', '--options', 'link', '--name', 'vm1', '--register']);
  });

  test('NAT rules: ssh on 127.0.0.1, then each forwarded port on its own host address', () => {
    assert.equal(natRule('ssh', {protocol: 'tcp', hostIp: '127.0.0.1', host: 2222, guest: 22}), 'ssh,tcp,127.0.0.1,2222,,22');
    assert.deepEqual(natRules(40022, 22, [{protocol: 'udp', hostIp: '0.0.0.0', host: 5353, guest: 53}]), ['ssh,tcp,127.0.0.1,40022,,22', 'udp5353,udp,0.0.0.0,5353,,53']);
  });

  test('configure: sizes, NAT NIC and serial file first, old rules deleted before new ones are added', () => {
    const calls = configureArgs('vm1', {cpus: 1, memoryMiB: 512, deleteRules: ['ssh'], rules: ['ssh,tcp,127.0.0.1,2200,,22'], serialLog: '/p/serial.log'});
    assert.deepEqual(calls[0], ['modifyvm', 'vm1', '--cpus', '1', '--memory', '512', '--nic1', 'nat', '--cableconnected1', 'on', '--uart1', '0x3F8', '4', '--uartmode1', 'file', '/p/serial.log']);
    assert.deepEqual(calls.slice(1), [['modifyvm', 'vm1', '--natpf1', 'delete', 'ssh'], ['modifyvm', 'vm1', '--natpf1', 'ssh,tcp,127.0.0.1,2200,,22']]);
    assert.deepEqual(startArgs('vm1', false), ['startvm', 'vm1', '--type', 'headless']);
    assert.deepEqual(startArgs('vm1', true), ['startvm', 'vm1', '--type', 'gui']);
  });

  test('VM and master names are VirtualBox-safe; a new VM name never repeats', () => {
    const a = vmNameFor('my shop', 'web');
    assert.match(a, /^box-my-shop-web-[0-9a-f]{6}$/);
    assert.notEqual(vmNameFor('p', 'm'), vmNameFor('p', 'm'));
    assert.match(masterName({name: 'acme/debian 12', version: '1.0.0', dir: '/x'}), /^box-master-acme-debian-12-1\.0\.0-[0-9a-f]{8}$/);
    assert.notEqual(masterName({name: 'a', version: '1', dir: '/x'}), masterName({name: 'a', version: '1', dir: '/y'}));
  });

  test('VBOX_MANAGE overrides the VBoxManage found on PATH', () => {
    assert.equal(locateVBoxManage({}), 'VBoxManage');
    assert.equal(locateVBoxManage({VBOX_MANAGE: '/opt/vbox/VBoxManage'}), '/opt/vbox/VBoxManage');
  });
});

describe('VBoxManage errors', () => {
  const notFound = [
    'VBoxManage: error: Could not find a registered machine named \'web\'',
    'VBoxManage: error: Details: code VBOX_E_OBJECT_NOT_FOUND (0x80bb0001), component VirtualBoxWrap, interface IVirtualBox, callee nsISupports',
    'VBoxManage: error: Context: "FindMachine(Bstr(a->argv[0]).raw(), machine.asOutParam())" at line 2860 of file VBoxManageInfo.cpp',
  ].join('\n');

  test('the message quotes VirtualBox without the prefix and the C++ context line', () => {
    assert.equal(vboxErrorText(notFound), 'Could not find a registered machine named \'web\'\nDetails: code VBOX_E_OBJECT_NOT_FOUND (0x80bb0001), component VirtualBoxWrap, interface IVirtualBox, callee nsISupports');
    assert.equal(vboxErrorText('Segmentation fault\n'), 'Segmentation fault');
  });

  test('known failures get their own code and next step', () => {
    const cases: Array<[string, string, RegExp]> = [
      [notFound, 'ERR_VBOX_VM_NOT_FOUND', /box destroy/],
      ['VBoxManage: error: VT-x is not available (VERR_VMX_NO_VMX)\nVBoxManage: error: Details: code NS_ERROR_FAILURE (0x80004005)', 'ERR_VBOX_NO_HWVIRT', /VT-x\/AMD-V/],
      ['VBoxManage: error: The virtual machine \'x\' has terminated unexpectedly during startup with exit code 1 (0x1).\nVBoxManage: error: Kernel driver not installed (rc=-1908)', 'ERR_VBOX_DRIVER', /vboxconfig/],
      ['VBoxManage: error: A NAT rule of this name already exists', 'ERR_VBOX_EXISTS', /showvminfo/],
      ['VBoxManage: error: Could not find file for the medium \'/b/box-disk001.vmdk\' (VERR_FILE_NOT_FOUND)', 'ERR_VBOX_FILE', /add it again/],
      ['VBoxManage: error: Something new', 'ERR_VBOXMANAGE', /by hand/],
    ];
    for (const [stderr, code, hint] of cases) {
      const error = vboxError([stderr.includes('medium') ? 'import' : 'startvm', 'x'], 1, stderr);
      assert.ok(error instanceof BoxError);
      assert.equal(error.code, code, stderr);
      assert.match(error.hint ?? '', hint, stderr);
      assert.match(error.message, /^VBoxManage (startvm|import) failed \(exit 1\): /);
    }
  });
});

describe('status reconciliation', () => {
  const state: VirtualboxMachineState = {phase: 'created', vmName: 'box-p-web-abcdef', uuid: 'u-1', ovf: '/b/box.ovf', linkedClone: true, sshPort: 2222, forwardedPorts: [], serialLog: '/p/serial.log', keyInserted: true};
  const vm = (s: string) => parseVmInfo(`name="box-p-web-abcdef"\nUUID="u-1"\nVMState="${s}"\n`);

  test('running, poweroff / aborted as stopped, and saved (box suspend) as suspended', () => {
    assert.equal(reconcileVbox('web', state, vm('running')).status, 'running');
    for (const s of ['poweroff', 'aborted']) assert.equal(reconcileVbox('web', state, vm(s)).status, 'stopped', s);
    assert.equal(reconcileVbox('web', state, vm('saved')).status, 'suspended');
    assert.equal(reconcileVbox('web', undefined, undefined).status, 'not-created');
  });

  test('a VM missing from VirtualBox is broken, repaired by destroy', () => {
    const report = reconcileVbox('web', state, undefined);
    assert.equal(report.status, 'broken');
    assert.match(report.reason!, /no VM box-p-web-abcdef/);
    assert.equal(report.repair, 'box destroy web');
  });

  test('a half-created machine (import never finished) is broken, repaired by destroy', () => {
    const report = reconcileVbox('web', {...state, phase: 'creating', uuid: undefined}, undefined);
    assert.equal(report.status, 'broken');
    assert.match(report.reason!, /half created/);
    assert.equal(report.repair, 'box destroy web');
  });

  test('paused and stuck VMs are broken with the command that gets them out', () => {
    assert.equal(reconcileVbox('web', state, vm('paused')).repair, 'box reload web');
    assert.equal(reconcileVbox('web', state, vm('gurumeditation')).repair, 'box halt --force web');
  });
});

describe('virtualbox box OVF', () => {
  test('names the VMDK with its capacity, the CPUs, the memory, a SATA disk and a NAT NIC', async () => {
    const {virtualboxOvf} = await import('../../../src/boxes/package.js');
    const xml = virtualboxOvf({name: 'deb<12>', diskFile: 'box-disk001.vmdk', diskBytes: 10 * 1024 ** 3, vmdkBytes: 123, cpus: 2, memoryMiB: 768});
    assert.match(xml, /<File ovf:id="file1" ovf:href="box-disk001\.vmdk" ovf:size="123"\/>/);
    assert.match(xml, /<Disk ovf:capacity="10737418240" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="[^"]+#streamOptimized"\/>/);
    assert.match(xml, /<VirtualSystem ovf:id="deb&lt;12>">/);
    const items = [...xml.matchAll(/<Item>([\s\S]*?)<\/Item>/g)].map((m) => m[1]);
    const byType = (t: number) => items.find((i) => i.includes(`<rasd:ResourceType>${t}</rasd:ResourceType>`))!;
    assert.match(byType(3), /<rasd:VirtualQuantity>2</);
    assert.match(byType(4), /<rasd:VirtualQuantity>768</);
    assert.match(byType(10), /<rasd:Connection>NAT</);
    assert.match(byType(17), /<rasd:HostResource>\/disk\/vmdisk1</);
    assert.match(byType(17), /<rasd:Parent>3</);
    assert.match(byType(20), /<rasd:InstanceID>3</);
  });
});
