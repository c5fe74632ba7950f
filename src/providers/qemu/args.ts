import type {GuestHardware} from '../../boxes/metadata.js';
import type {PortForward} from '../shared/ports.js';
import type {Accel} from './accel.js';

export type {GuestHardware, PortForward};

/** Everything needed to start one machine's QEMU; built from the Boxfile and the machine dir. */
export interface LaunchSpec {
  name: string;
  machineType: string;
  accel: Accel;
  cpus: number;
  memoryMiB: number;
  disk: string;
  qmpSocket: string;
  pidFile: string;
  serialLog: string;
  sshPort: number;
  /** The guest's SSH port (default 22; a box's Vagrantfile or the Boxfile's ssh.port may change it). */
  sshGuestPort?: number;
  forwardedPorts: PortForward[];
  /** Direct kernel boot (boxes built by box ship vmlinuz + initrd.img): faster than GRUB. */
  kernel?: {kernel: string; initrd?: string; cmdline?: string};
  /** The guest's disk bus and NIC (a box's `disk_bus`/`nic_model`); virtio unless the box says otherwise (Windows without virtio drivers). */
  hardware?: GuestHardware;
  /**
   * The box image the disk is an overlay of. Given, QEMU opens it as a read-only node with no
   * backing file of its own and the overlay is pointed at that node, so neither a chain inside
   * the box image nor the overlay's recorded backing path can make QEMU open another file.
   */
  base?: {file: string; format: string; clone?: string};
  /** A second NIC on the project's private network (see privateNetArgs). */
  privateNetwork?: PrivateNic;
  /** Host folders the guest mounts live (`type: 9p`/`virtiofs` synced folders; see sharedFolderArgs). */
  sharedFolders?: readonly SharedFolderExport[];
  /** The NoCloud seed ISO (label cidata), attached read-only as a CD (virtio-scsi). */
  cloudInitSeed?: string;
  /** Files handed to the guest through QEMU's fw_cfg (`/sys/firmware/qemu_fw_cfg/by_name/NAME/raw`); names start with `opt/`. */
  fwCfg?: ReadonlyArray<{name: string; file: string}>;
  extraArgs: string[];
  /** Resume from saved state instead of booting: QEMU's `-incoming` URI (see qemu/suspend.ts). */
  incoming?: string;
}

/** One host folder exported to the guest under a mount tag. */
export interface SharedFolderExport {
  type: '9p' | 'virtiofs';
  /** Absolute host folder (9p: QEMU serves it itself). */
  source: string;
  tag: string;
  /** virtiofs: the socket of the virtiofsd that serves the folder. */
  socket?: string;
}

/** The machine's NIC on the project's private network: a multicast segment on the loopback. */
export interface PrivateNic {
  /** Multicast group and UDP port, one pair per project. */
  group: string;
  port: number;
  mac: string;
}

/** Node name of the box image under a machine's overlay (see LaunchSpec.base). */
export const BASE_NODE = 'box-base';
/** Node name of the box image under a clone's own base. */
export const CLONE_BOX_NODE = 'box-image';

/** The -blockdev that opens the box image read-only, as a node that can have no backing file. */
export function baseBlockdev(base: {file: string; format: string; clone?: string}): string[] {
  if (base.clone === undefined) return ['-blockdev', JSON.stringify(imageNode(base, BASE_NODE))];
  // A clone's own base (qcow2: the source's delta) sits between the overlay and the box image.
  const clone = {driver: 'qcow2', 'node-name': BASE_NODE, 'read-only': true, backing: CLONE_BOX_NODE, file: {driver: 'file', filename: base.clone, 'read-only': true}};
  return ['-blockdev', JSON.stringify(imageNode(base, CLONE_BOX_NODE)), '-blockdev', JSON.stringify(clone)];
}

/** The box image, read-only, as a node that can have no backing file. */
function imageNode(base: {file: string; format: string}, nodeName: string): Record<string, unknown> {
  return {
    driver: base.format,
    'node-name': nodeName,
    'read-only': true,
    // qcow2 alone can name a backing file; null means "none", whatever its header says.
    ...(base.format === 'qcow2' ? {backing: null} : {}),
    file: {driver: 'file', filename: base.file, 'read-only': true},
  };
}

/**
 * The -drive/-device arguments that attach the machine's disk on the given bus. `detectZeroes`
 * (the build VM's virtio disk) turns zeroes the guest writes into holes, so the image stays sparse.
 */
export function diskArgs(disk: string, bus: GuestHardware['diskBus'], base?: {file: string; format: string; clone?: string}, options: {detectZeroes?: boolean} = {}): string[] {
  const file = qemuEscape(disk);
  const backing = base ? `,backing=${BASE_NODE}` : '';
  const pre = base ? baseBlockdev(base) : [];
  if (bus === 'ide') return [...pre, '-drive', `file=${file},if=ide,format=qcow2${backing}`];
  // NVMe: the bus whose driver Debian's cloud kernel has built in, so it boots with no initrd.
  if (bus === 'nvme') return [...pre, '-drive', `file=${file},if=none,id=disk0,format=qcow2,discard=unmap${backing}`, '-device', 'nvme,drive=disk0,serial=box-disk0'];
  if (bus === 'sata') return [...pre, '-device', 'ahci,id=ahci0', '-drive', `file=${file},if=none,id=disk0,format=qcow2,discard=unmap${backing}`, '-device', 'ide-hd,drive=disk0,bus=ahci0.0'];
  return [...pre, '-drive', `file=${file},if=virtio,format=qcow2,discard=unmap${options.detectZeroes ? ',detect-zeroes=unmap' : ''}${backing}`];
}

/** A read-only CD-ROM drive (installer ISO, answer-file CD). */
export function cdromArgs(file: string): string[] {
  return ['-drive', `file=${qemuEscape(file)},media=cdrom,readonly=on`];
}

/**
 * The cloud-init seed as a CD on its own virtio-scsi controller, not the machine's default
 * (IDE/AHCI) bus: cloud kernels such as Debian's linux-image-cloud-amd64 have no AHCI driver,
 * and every cloud kernel has virtio-scsi and sr_mod. The guest sees /dev/sr0 labelled cidata.
 */
export function seedCdArgs(file: string): string[] {
  return [
    '-device', 'virtio-scsi-pci,id=box-seed-scsi',
    '-drive', `file=${qemuEscape(file)},if=none,id=box-seed,media=cdrom,readonly=on,format=raw`,
    '-device', 'scsi-cd,bus=box-seed-scsi.0,drive=box-seed',
  ];
}

function accelArgs(accel: Accel): string[] {
  return accel === 'kvm'
    ? ['-accel', 'kvm', '-cpu', 'host']
    // Multi-threaded TCG uses every host core for an -smp guest.
    : ['-accel', 'tcg,thread=multi', '-cpu', 'max'];
}

/** User-mode networking with the given host forwards, on one NIC. */
function userNetArgs(hostfwd: string[], nicModel: string): string[] {
  return ['-netdev', ['user', 'id=net0', ...hostfwd].join(','), '-device', `${nicModel},netdev=net0`];
}

/**
 * The private network's NIC: every QEMU of the project joins one multicast group, so frames one
 * guest sends reach all the others, with no switch process and no root (QEMU's `-netdev socket`
 * mcast). `localaddr=127.0.0.1` sends and joins on the loopback interface: no frame leaves
 * the host. Not `-netdev dgram` (new in 7.2, same result, missing from older QEMUs).
 */
function privateNetArgs(nic: PrivateNic, nicModel: string): string[] {
  return ['-netdev', `socket,id=net1,mcast=${nic.group}:${nic.port},localaddr=127.0.0.1`, '-device', `${nicModel},netdev=net1,mac=${nic.mac}`];
}

/**
 * The exports of shared synced folders.
 * - 9p: QEMU's own server (`-virtfs`). `security_model=none`: files the guest creates are
 *   created by QEMU's user (the host user who runs box; with root, chowned to the guest's uid),
 *   with the modes the guest asks for, failures to chown ignored. So the host keeps a plain tree
 *   its user owns: real modes and symlinks, no xattr support needed. `mapped-xattr` would keep
 *   the guest's owners in xattrs instead, at the price of 0600 files and symlinks stored as
 *   regular files on the host. `multidevs=remap` keeps inode numbers unique across host mounts.
 * - virtiofs: a vhost-user device on virtiofsd's socket. vhost-user needs the guest's RAM in
 *   shared memory: one memfd backend (`share=on`) as the guest's only NUMA node, replacing `-m`'s
 *   private RAM (same size).
 */
export function sharedFolderArgs(folders: readonly SharedFolderExport[], memoryMiB: number): string[] {
  const args: string[] = [];
  for (const f of folders) {
    if (f.type === '9p') {
      args.push('-virtfs', `local,path=${qemuEscape(f.source)},mount_tag=${f.tag},security_model=none,multidevs=remap,id=fs-${f.tag}`);
    } else {
      args.push('-chardev', `socket,id=vfs-${f.tag},path=${qemuEscape(f.socket!)}`, '-device', `vhost-user-fs-pci,chardev=vfs-${f.tag},tag=${f.tag}`);
    }
  }
  if (folders.some((f) => f.type === 'virtiofs')) {
    args.push('-object', `memory-backend-memfd,id=box-mem,size=${memoryMiB}M,share=on`, '-numa', 'node,memdev=box-mem');
  }
  return args;
}

function qmpArgs(socket: string): string[] {
  return ['-qmp', `unix:${qemuEscape(socket)},server=on,wait=off`];
}

/** `-serial file:PATH` takes the rest of the value as the path, commas and all: no escaping (QEMU 7.2 would open "a,,b"). */
function serialFileArgs(log: string): string[] {
  return ['-serial', `file:${log}`];
}

/** QEMU option values are comma-separated; a comma inside a path is written twice. */
export function qemuEscape(value: string): string {
  return value.replaceAll(',', ',,');
}

/** The qemu-system argument list. Pure, so it is unit-tested without QEMU. */
export function buildQemuArgs(spec: LaunchSpec): string[] {
  const hostfwd = [
    `hostfwd=tcp:127.0.0.1:${spec.sshPort}-:${spec.sshGuestPort ?? 22}`,
    ...spec.forwardedPorts.map((p) => `hostfwd=${p.protocol}:${p.hostIp}:${p.host}-:${p.guest}`),
  ];
  const args = [
    '-name', spec.name.replace(/[^A-Za-z0-9_.-]/g, '-'),
    '-machine', `${spec.machineType}`,
    ...accelArgs(spec.accel),
    '-smp', String(spec.cpus),
    '-m', String(spec.memoryMiB),
    ...diskArgs(spec.disk, spec.hardware?.diskBus ?? 'virtio', spec.base),
    ...userNetArgs(hostfwd, spec.hardware?.nicModel ?? 'virtio-net-pci'),
    ...(spec.privateNetwork ? privateNetArgs(spec.privateNetwork, spec.hardware?.nicModel ?? 'virtio-net-pci') : []),
    ...sharedFolderArgs(spec.sharedFolders ?? [], spec.memoryMiB),
    ...(spec.cloudInitSeed ? seedCdArgs(spec.cloudInitSeed) : []),
    ...(spec.fwCfg ?? []).flatMap((f) => ['-fw_cfg', `name=${f.name},file=${qemuEscape(f.file)}`]),
    // Entropy for the guest's sshd on first boot (host keys, getrandom) without stalls.
    '-device', 'virtio-rng-pci',
    ...qmpArgs(spec.qmpSocket),
    ...serialFileArgs(spec.serialLog),
    '-display', 'none',
    '-monitor', 'none',
    '-pidfile', spec.pidFile,
    '-daemonize',
  ];
  if (spec.kernel) {
    args.push('-kernel', spec.kernel.kernel);
    if (spec.kernel.initrd) args.push('-initrd', spec.kernel.initrd);
    args.push('-append', withSerialConsole(spec.kernel.cmdline ?? 'root=/dev/vda1 ro'));
  }
  args.push(...spec.extraArgs);
  // Last, so the saved state's launch (suspend.ts) compares equal to the boot's without it.
  if (spec.incoming) args.push('-incoming', spec.incoming);
  return args;
}

/** The serial log is only useful if the kernel writes its console there. */
function withSerialConsole(cmdline: string): string {
  return /\bconsole=ttyS0\b/.test(cmdline) ? cmdline : `${cmdline} console=ttyS0`;
}

/** Everything needed to start `box build`'s VM (an installer or a source box booting once). */
export interface BuildVmSpec {
  name: string;
  accel: Accel;
  cpus: number;
  memoryMiB: number;
  sshPort: number;
  sshGuestPort: number;
  nicModel: string;
  diskBus: GuestHardware['diskBus'];
  disk: string;
  qmpSocket: string;
  serialLog: string;
  pidFile: string;
  /** The installer ISO, booted once (then the disk). */
  cdrom?: string;
  kernel?: {kernel: string; initrd: string; cmdline?: string};
  /** A CD holding the answer files (cidata, OEMDRV...). */
  answerCd?: string;
}

/**
 * The build VM's qemu-system arguments: the same pieces as a machine's (so paths are escaped the
 * same way), but in the foreground, without a monitor option, booting an installer when given.
 */
export function buildVmQemuArgs(spec: BuildVmSpec): string[] {
  const args = [
    '-name', spec.name,
    '-machine', 'pc',
    ...accelArgs(spec.accel),
    '-smp', String(spec.cpus),
    '-m', String(spec.memoryMiB),
    ...userNetArgs([`hostfwd=tcp:127.0.0.1:${spec.sshPort}-:${spec.sshGuestPort}`], spec.nicModel),
    ...qmpArgs(spec.qmpSocket),
    ...serialFileArgs(spec.serialLog),
    '-display', 'none',
    '-pidfile', spec.pidFile,
    ...diskArgs(spec.disk, spec.diskBus, undefined, {detectZeroes: true}),
  ];
  if (spec.cdrom) args.push(...cdromArgs(spec.cdrom), '-boot', 'order=c,once=d');
  if (spec.kernel) args.push('-kernel', spec.kernel.kernel, '-initrd', spec.kernel.initrd, ...(spec.kernel.cmdline ? ['-append', spec.kernel.cmdline] : []));
  if (spec.answerCd) args.push(...cdromArgs(spec.answerCd));
  return args;
}
