import assert from 'node:assert/strict';
import {describe, test} from 'node:test';
import {buildQemuArgs, type LaunchSpec} from '../../../src/providers/qemu/args.js';
import {hardwareOf} from '../../../src/boxes/metadata.js';
import {launchFwCfg} from '../../../src/providers/qemu/first-boot.js';

const spec: LaunchSpec = {
  name: 'box-demo-web',
  machineType: 'q35',
  accel: 'tcg',
  cpus: 2,
  memoryMiB: 1024,
  disk: '/p/.box/machines/web/disk.qcow2',
  qmpSocket: '/p/.box/machines/web/qmp.sock',
  pidFile: '/p/.box/machines/web/qemu.pid',
  serialLog: '/p/.box/machines/web/serial.log',
  sshPort: 40022,
  forwardedPorts: [{protocol: 'tcp', hostIp: '127.0.0.1', host: 8080, guest: 80}, {protocol: 'udp', hostIp: '0.0.0.0', host: 5353, guest: 53}],
  extraArgs: ['-rtc', 'base=utc'],
};

function valueOf(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i === -1 ? undefined : args[i + 1];
}

describe('QEMU argument builder', () => {
  test('TCG uses multi-threaded TCG and the Boxfile cpus and memory', () => {
    const args = buildQemuArgs(spec);
    assert.equal(valueOf(args, '-accel'), 'tcg,thread=multi');
    assert.equal(valueOf(args, '-smp'), '2');
    assert.equal(valueOf(args, '-m'), '1024');
    assert.ok(!args.includes('host'), 'no -cpu host under TCG');
  });

  test('KVM uses the host CPU', () => {
    const args = buildQemuArgs({...spec, accel: 'kvm'});
    assert.equal(valueOf(args, '-accel'), 'kvm');
    assert.equal(valueOf(args, '-cpu'), 'host');
  });

  test('SSH is forwarded from 127.0.0.1 only, and Boxfile ports keep their address and protocol', () => {
    const netdev = valueOf(buildQemuArgs(spec), '-netdev')!;
    assert.match(netdev, /^user,id=net0,/);
    assert.ok(netdev.includes('hostfwd=tcp:127.0.0.1:40022-:22'));
    assert.ok(netdev.includes('hostfwd=tcp:127.0.0.1:8080-:80'));
    assert.ok(netdev.includes('hostfwd=udp:0.0.0.0:5353-:53'));
  });

  test('SSH is forwarded to the guest port a box\'s Vagrantfile or the Boxfile names (default 22)', () => {
    assert.ok(valueOf(buildQemuArgs({...spec, sshGuestPort: 2222}), '-netdev')!.includes('hostfwd=tcp:127.0.0.1:40022-:2222'));
  });

  test('the machine files are the QMP socket, pid file, serial log and virtio disk, and QEMU daemonizes headless', () => {
    const args = buildQemuArgs(spec);
    assert.equal(valueOf(args, '-qmp'), 'unix:/p/.box/machines/web/qmp.sock,server=on,wait=off');
    assert.equal(valueOf(args, '-pidfile'), spec.pidFile);
    assert.equal(valueOf(args, '-serial'), 'file:/p/.box/machines/web/serial.log');
    assert.match(valueOf(args, '-drive')!, /^file=\/p\/\.box\/machines\/web\/disk\.qcow2,if=virtio,format=qcow2/);
    assert.equal(valueOf(args, '-display'), 'none');
    assert.ok(args.includes('-daemonize'));
    assert.ok(!args.includes('-kernel'));
  });

  test('direct kernel boot adds kernel, initrd and a serial console to the command line', () => {
    const args = buildQemuArgs({...spec, kernel: {kernel: '/b/vmlinuz', initrd: '/b/initrd.img', cmdline: 'root=/dev/vda1 rw quiet'}});
    assert.equal(valueOf(args, '-kernel'), '/b/vmlinuz');
    assert.equal(valueOf(args, '-initrd'), '/b/initrd.img');
    assert.equal(valueOf(args, '-append'), 'root=/dev/vda1 rw quiet console=ttyS0');
    const already = buildQemuArgs({...spec, kernel: {kernel: '/b/vmlinuz', cmdline: 'console=ttyS0 root=/dev/vda1'}});
    assert.equal(valueOf(already, '-append'), 'console=ttyS0 root=/dev/vda1');
    assert.equal(valueOf(already, '-initrd'), undefined);
  });

  test('commas in option-list paths are doubled as QEMU\'s option syntax requires, the serial file path is verbatim, and the name is sanitised', () => {
    const args = buildQemuArgs({...spec, name: 'box-my project,x-web', disk: '/p,q/disk.qcow2', qmpSocket: '/p,q/qmp.sock', serialLog: '/p,q/serial.log'});
    assert.match(valueOf(args, '-drive')!, /^file=\/p,,q\/disk\.qcow2,if=virtio/);
    assert.equal(valueOf(args, '-qmp'), 'unix:/p,,q/qmp.sock,server=on,wait=off');
    // `-serial file:` is not an option list: QEMU takes the rest verbatim (a doubled comma would be opened as is).
    assert.equal(valueOf(args, '-serial'), 'file:/p,q/serial.log');
    assert.equal(valueOf(args, '-name'), 'box-my-project-x-web');
  });

  test('extra_args from the Boxfile come last, as given', () => {
    assert.deepEqual(buildQemuArgs(spec).slice(-2), ['-rtc', 'base=utc']);
  });
  test('a box that needs SATA and e1000 (a Windows guest) gets an AHCI disk and an e1000 NIC, from its metadata', () => {
    const hardware = hardwareOf({disk_bus: 'sata', nic_model: 'e1000'});
    assert.deepEqual(hardware, {diskBus: 'sata', nicModel: 'e1000'});
    const args = buildQemuArgs({...spec, hardware});
    const joined = args.join(' ');
    assert.match(joined, /-device ahci,id=ahci0 -drive file=\/p\/\.box\/machines\/web\/disk\.qcow2,if=none,id=disk0,format=qcow2,discard=unmap -device ide-hd,drive=disk0,bus=ahci0\.0/);
    assert.ok(args.includes('e1000,netdev=net0'));
    assert.ok(!joined.includes('if=virtio'));
    assert.equal(hardwareOf({}), undefined, 'no hint: virtio');
    assert.equal(hardwareOf({disk_bus: 'floppy', nic_model: 'rtl8139'}), undefined, 'unknown values: virtio');
    assert.deepEqual(hardwareOf({disk_bus: 'ide'}), {diskBus: 'ide', nicModel: 'virtio-net-pci'});
  });

  test('a box built to boot with no initrd (metadata disk_bus nvme) gets its disk on an NVMe controller, and direct kernel boot passes no -initrd', () => {
    const hardware = hardwareOf({disk_bus: 'nvme'});
    assert.deepEqual(hardware, {diskBus: 'nvme', nicModel: 'virtio-net-pci'});
    const args = buildQemuArgs({...spec, hardware, kernel: {kernel: '/b/vmlinuz', cmdline: 'root=PARTUUID=db36c210-01 rootfstype=ext4 rootwait rw'}});
    const joined = args.join(' ');
    assert.match(joined, /-drive file=\/p\/\.box\/machines\/web\/disk\.qcow2,if=none,id=disk0,format=qcow2,discard=unmap -device nvme,drive=disk0,serial=box-disk0/);
    assert.ok(!joined.includes('if=virtio'));
    assert.ok(!args.includes('-initrd'));
    assert.equal(valueOf(args, '-append'), 'root=PARTUUID=db36c210-01 rootfstype=ext4 rootwait rw console=ttyS0');
  });

  test('files handed to the guest through fw_cfg are named and their paths escaped; none by default', () => {
    assert.ok(!buildQemuArgs(spec).includes('-fw_cfg'));
    const args = buildQemuArgs({...spec, fwCfg: [{name: 'opt/box/first-boot', file: '/p,q/first-boot.sh'}]});
    assert.equal(valueOf(args, '-fw_cfg'), 'name=opt/box/first-boot,file=/p,,q/first-boot.sh');
  });

  test('a resume reads the fw_cfg entries back from the recorded launch, so its QEMU has the same devices', () => {
    const entries = [{name: 'opt/box/first-boot', file: '/p,q/first-boot.sh'}];
    assert.deepEqual(launchFwCfg(buildQemuArgs({...spec, fwCfg: entries})), entries);
    assert.deepEqual(launchFwCfg(buildQemuArgs(spec)), []);
  });

  test('a private network adds a second NIC on the project\'s multicast group, bound to the loopback, with the machine\'s MAC', () => {
    const plain = buildQemuArgs(spec);
    assert.ok(!plain.join(' ').includes('mcast'), 'no networks: one NIC');
    const args = buildQemuArgs({...spec, privateNetwork: {group: '239.192.10.20', port: 31000, mac: '52:54:00:aa:bb:cc'}});
    const joined = args.join(' ');
    assert.match(joined, /-netdev socket,id=net1,mcast=239\.192\.10\.20:31000,localaddr=127\.0\.0\.1 -device virtio-net-pci,netdev=net1,mac=52:54:00:aa:bb:cc/);
    // The NAT NIC stays first (the guest's eth0, its default route and SSH).
    assert.ok(args.indexOf('virtio-net-pci,netdev=net0') < args.indexOf('virtio-net-pci,netdev=net1,mac=52:54:00:aa:bb:cc'));
    const e1000 = buildQemuArgs({...spec, hardware: hardwareOf({nic_model: 'e1000'}), privateNetwork: {group: '239.192.10.20', port: 31000, mac: '52:54:00:aa:bb:cc'}});
    assert.ok(e1000.includes('e1000,netdev=net1,mac=52:54:00:aa:bb:cc'), 'the box\'s NIC model for both NICs');
  });

  test('a 9p folder is exported by QEMU itself, security_model=none, its path escaped; no shared memory', () => {
    const args = buildQemuArgs({...spec, sharedFolders: [{type: '9p', source: '/home/dev/my,app', tag: 'box0'}]});
    assert.equal(valueOf(args, '-virtfs'), 'local,path=/home/dev/my,,app,mount_tag=box0,security_model=none,multidevs=remap,id=fs-box0');
    assert.ok(!args.join(' ').includes('memory-backend'), '9p needs no shared guest RAM');
    assert.equal(valueOf(args, '-m'), '1024');
  });

  test('a virtiofs folder is a vhost-user-fs device on virtiofsd\'s socket, with the guest RAM in one shared memfd', () => {
    const args = buildQemuArgs({...spec, sharedFolders: [
      {type: 'virtiofs', source: '/src/a', tag: 'box0', socket: '/p/.box/machines/web/virtiofs-0.sock'},
      {type: '9p', source: '/src/b', tag: 'box1'},
      {type: 'virtiofs', source: '/src/c', tag: 'box2', socket: '/p/.box/machines/web/virtiofs-2.sock'},
    ]});
    const joined = args.join(' ');
    assert.match(joined, /-chardev socket,id=vfs-box0,path=\/p\/\.box\/machines\/web\/virtiofs-0\.sock -device vhost-user-fs-pci,chardev=vfs-box0,tag=box0/);
    assert.match(joined, /-chardev socket,id=vfs-box2,path=\/p\/\.box\/machines\/web\/virtiofs-2\.sock -device vhost-user-fs-pci,chardev=vfs-box2,tag=box2/);
    assert.match(joined, /-virtfs local,path=\/src\/b,mount_tag=box1,/);
    // One backend of the machine's memory size, whatever the number of folders.
    assert.equal(args.filter((a) => a.startsWith('memory-backend-memfd')).length, 1);
    assert.match(joined, /-object memory-backend-memfd,id=box-mem,size=1024M,share=on -numa node,memdev=box-mem/);
  });

  test('no shared folders: no -virtfs, no vhost-user device', () => {
    const joined = buildQemuArgs(spec).join(' ');
    assert.ok(!/virtfs|vhost-user|numa/.test(joined));
  });
});
