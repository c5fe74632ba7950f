import {createHash} from 'node:crypto';
import {createReadStream, createWriteStream} from 'node:fs';
import {mkdir, rename, rm, stat} from 'node:fs/promises';
import path from 'node:path';
import {Transform} from 'node:stream';
import {pipeline} from 'node:stream/promises';
import {createGzip} from 'node:zlib';
import {BoxError, throwIfAborted} from '../core/errors.js';
import {run} from '../core/exec.js';
import {lazyRequire} from '../core/lazy-require.js';
import type {GuestHardware} from './metadata.js';

export {writeCatalog, type CatalogEntry} from './catalog.js';

/** A file to put in a box: copied from `path` on the host, or written from `content`. */
export type BoxFile = {name: string; path: string} | {name: string; content: string | Buffer};

export interface PackageBoxOptions {
  /** Vagrant provider name written to metadata.json: libvirt, virtualbox, aws. */
  provider: string;
  files: BoxFile[];
  /** Extra metadata.json fields (provider is always set from `provider`). */
  metadata?: Record<string, unknown>;
  outputPath: string;
  /** tar.gz instead of tar (smaller, slower to make and to add). */
  gzip?: boolean;
  /** Stops the writing (the temp file is removed). */
  signal?: AbortSignal;
}

export interface PackagedBox {
  path: string;
  sha256: string;
  size: number;
}

// Only packaging writes a tar: other commands never load tar-stream.
const tarStream = lazyRequire<typeof import('tar-stream')>('tar-stream');
/**
 * Writes a Vagrant box: a tar (or tar.gz) with metadata.json first, then the files. Files are
 * streamed from disk (never held in memory) and the sha256 of the archive is computed while it
 * is written. The archive appears at `outputPath` only when complete (temp file + rename).
 */
export async function packageBox(options: PackageBoxOptions): Promise<PackagedBox> {
  const metadata: Record<string, unknown> = {provider: options.provider, ...options.metadata};
  metadata.provider = options.provider;
  const entries: BoxFile[] = [{name: 'metadata.json', content: JSON.stringify(metadata, null, 2) + '\n'}, ...options.files.filter((f) => f.name !== 'metadata.json')];
  await mkdir(path.dirname(path.resolve(options.outputPath)), {recursive: true});
  const temp = `${options.outputPath}.tmp-${process.pid}`;
  const hash = createHash('sha256');
  let size = 0;
  const pack = tarStream().pack();
  const counter = new Transform({
    transform(chunk: Buffer, _enc, callback) {
      hash.update(chunk);
      size += chunk.length;
      callback(null, chunk);
    },
  });
  const writing = options.gzip
    ? pipeline(pack, createGzip({level: 6}), counter, createWriteStream(temp))
    : pipeline(pack, counter, createWriteStream(temp));
  try {
    const adding = (async () => {
      for (const file of entries) {
        throwIfAborted(options.signal);
        const mtime = new Date();
        if ('content' in file) {
          const buffer = Buffer.isBuffer(file.content) ? file.content : Buffer.from(file.content);
          await new Promise<void>((resolve, reject) => pack.entry({name: file.name, size: buffer.length, mode: 0o644, mtime}, buffer, (e) => (e ? reject(e) : resolve())));
          continue;
        }
        const s = await stat(file.path).catch(() => undefined);
        if (!s?.isFile()) throw new BoxError('ERR_BOX_PACKAGE', `Cannot package ${file.path} as ${file.name}: not a file.`, {hint: 'Check the path of the image or extra file.'});
        const entry = pack.entry({name: file.name, size: s.size, mode: 0o644, mtime});
        await pipeline(createReadStream(file.path, {highWaterMark: 1024 * 1024}), entry, {signal: options.signal ?? new AbortController().signal});
      }
      pack.finalize();
    })();
    await Promise.all([adding.catch((error) => {
      pack.destroy(error);
      throw error;
    }), writing]);
    throwIfAborted(options.signal);
    await rename(temp, options.outputPath);
  } catch (error) {
    await rm(temp, {force: true});
    throw error;
  }
  return {path: path.resolve(options.outputPath), sha256: hash.digest('hex'), size};
}

export interface PackageLibvirtOptions {
  /** A qcow2 image, stored as box.img. */
  imagePath: string;
  outputPath: string;
  /** Disk size in whole GiB for metadata.json; read with `qemu-img info` when not given. */
  virtualSizeGiB?: number;
  /** Extra files: name in the box → path on the host (kernel, initrd...). */
  extraFiles?: Record<string, string>;
  extraMetadata?: Record<string, unknown>;
  /** Disk bus and NIC the guest needs when not virtio: written as metadata `disk_bus`/`nic_model` and into the Vagrantfile. */
  hardware?: GuestHardware;
  gzip?: boolean;
  signal?: AbortSignal;
}

/**
 * vagrant-libvirt reads provider defaults from a Vagrantfile inside the box: for a guest without
 * virtio drivers, the disk bus and NIC model. The driver is not set: that is the host's business
 * (kvm, or qemu where KVM does not work), left to vagrant-libvirt and the user's Vagrantfile.
 */
export function libvirtVagrantfile(hardware?: GuestHardware): string {
  const lines = ['    # The driver (kvm or qemu) is left to vagrant-libvirt and your Vagrantfile.'];
  if (hardware && hardware.diskBus !== 'virtio') lines.push(`    libvirt.disk_bus = "${hardware.diskBus}"`);
  if (hardware && hardware.nicModel !== 'virtio-net-pci') lines.push(`    libvirt.nic_model_type = "${hardware.nicModel}"`);
  return `# Box made by box for the vagrant-libvirt provider.
Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |libvirt|
${lines.join('\n')}
  end
end
`;
}

/** Reads the virtual size of a disk image in whole GiB (rounded up), as vagrant-libvirt wants it. */
export async function virtualSizeGiB(imagePath: string): Promise<number> {
  const info = JSON.parse(await run('qemu-img', ['info', '--output=json', imagePath], {errorCode: 'ERR_QEMU_IMG', hint: 'Install qemu-utils (apt-get install qemu-utils).'})) as {'virtual-size': number};
  return Math.max(1, Math.ceil(info['virtual-size'] / 1024 ** 3));
}

/**
 * Writes a vagrant-libvirt box: metadata.json {"provider":"libvirt","format":"qcow2",
 * "virtual_size":GB}, box.img (the qcow2) and a minimal Vagrantfile, plus any extra files.
 */
export async function packageLibvirtBox(options: PackageLibvirtOptions): Promise<PackagedBox> {
  const size = options.virtualSizeGiB ?? await virtualSizeGiB(options.imagePath);
  if (!Number.isInteger(size) || size < 1) {
    throw new BoxError('ERR_BOX_PACKAGE', `virtual_size must be a whole number of GiB (got ${size}).`, {hint: 'Round the disk size up to whole GiB.'});
  }
  const extra = Object.entries(options.extraFiles ?? {}).map(([name, file]) => ({name, path: file}));
  return packageBox({
    provider: 'libvirt',
    metadata: {
      ...options.extraMetadata, format: 'qcow2', virtual_size: size,
      ...(options.hardware && options.hardware.diskBus !== 'virtio' ? {disk_bus: options.hardware.diskBus} : {}),
      ...(options.hardware && options.hardware.nicModel !== 'virtio-net-pci' ? {nic_model: options.hardware.nicModel} : {}),
    },
    files: [{name: 'box.img', path: options.imagePath}, {name: 'Vagrantfile', content: libvirtVagrantfile(options.hardware)}, ...extra],
    outputPath: options.outputPath,
    gzip: options.gzip,
    signal: options.signal,
  });
}

export interface PackageVirtualboxOptions {
  /** Any disk image qemu-img reads (qcow2, raw...); converted to a stream-optimized VMDK. */
  imagePath: string;
  outputPath: string;
  /** VM name inside the appliance (VirtualBox suggests it on import). */
  name: string;
  cpus?: number;
  memoryMiB?: number;
  /** Disk controller and NIC the guest has drivers for (default: SATA and E1000, as VirtualBox). */
  hardware?: Partial<VirtualboxHardware>;
  extraMetadata?: Record<string, unknown>;
  gzip?: boolean;
  signal?: AbortSignal;
}

/** The virtual hardware a guest has drivers for: its disk controller and NIC model. */
export interface VirtualboxHardware {
  /** sata: AHCI (VirtualBox's default); ide: PIIX4, for kernels without AHCI (Debian's cloud kernel). */
  diskController: 'sata' | 'ide';
  /** e1000: Intel PRO/1000 MT (VirtualBox's default); virtio: virtio-net. */
  nic: 'e1000' | 'virtio';
}

/**
 * The OVF 1.0 envelope of a one-disk VM, shaped like VirtualBox's own exports: the VMDK,
 * its capacity, CPUs, memory, a SATA (AHCI) or IDE (PIIX4) controller holding the disk and
 * one NAT NIC (E1000 or virtio).
 */
export function virtualboxOvf(spec: {name: string; diskFile: string; diskBytes: number; vmdkBytes: number; cpus: number; memoryMiB: number} & Partial<VirtualboxHardware>): string {
  const controller = spec.diskController === 'ide'
    ? {type: 5, caption: 'ideController0', subType: 'PIIX4'}
    : {type: 20, caption: 'sataController0', subType: 'AHCI'};
  const nicSubType = spec.nic === 'virtio' ? 'virtio' : 'E1000';
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');
  const item = (id: number, type: number, caption: string, extra: string) =>
    `      <Item>\n        <rasd:Caption>${caption}</rasd:Caption>\n        <rasd:ElementName>${caption}</rasd:ElementName>\n        <rasd:InstanceID>${id}</rasd:InstanceID>\n        <rasd:ResourceType>${type}</rasd:ResourceType>\n${extra}      </Item>\n`;
  return `<?xml version="1.0"?>
<Envelope ovf:version="1.0" xml:lang="en-US" xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <References>
    <File ovf:id="file1" ovf:href="${esc(spec.diskFile)}" ovf:size="${spec.vmdkBytes}"/>
  </References>
  <DiskSection>
    <Info>List of the virtual disks used in the package</Info>
    <Disk ovf:capacity="${spec.diskBytes}" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
  <NetworkSection>
    <Info>Logical networks used in the package</Info>
    <Network ovf:name="NAT">
      <Description>Logical network used by this appliance.</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id="${esc(spec.name)}">
    <Info>A virtual machine</Info>
    <OperatingSystemSection ovf:id="96">
      <Info>The kind of installed guest operating system</Info>
      <Description>Debian_64</Description>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements for a virtual machine</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>${esc(spec.name)}</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>virtualbox-2.2</vssd:VirtualSystemType>
      </System>
${item(1, 3, `${spec.cpus} virtual CPU`, `        <rasd:VirtualQuantity>${spec.cpus}</rasd:VirtualQuantity>\n        <rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits>\n`)}${item(2, 4, `${spec.memoryMiB} MB of memory`, `        <rasd:VirtualQuantity>${spec.memoryMiB}</rasd:VirtualQuantity>\n        <rasd:AllocationUnits>MegaBytes</rasd:AllocationUnits>\n`)}${item(3, controller.type, controller.caption, `        <rasd:ResourceSubType>${controller.subType}</rasd:ResourceSubType>\n        <rasd:Address>0</rasd:Address>\n`)}${item(4, 10, 'Ethernet adapter on \'NAT\'', `        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>\n        <rasd:Connection>NAT</rasd:Connection>\n        <rasd:ResourceSubType>${nicSubType}</rasd:ResourceSubType>\n`)}${item(5, 17, 'disk1', '        <rasd:AddressOnParent>0</rasd:AddressOnParent>\n        <rasd:HostResource>/disk/vmdisk1</rasd:HostResource>\n        <rasd:Parent>3</rasd:Parent>\n')}    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
`;
}

/**
 * Writes a Vagrant virtualbox box: metadata.json {"provider":"virtualbox"}, box.ovf and
 * box-disk001.vmdk (stream-optimized, the format VirtualBox exports and imports), converted
 * from the given image with qemu-img in a temp folder next to the output.
 */
export async function packageVirtualboxBox(options: PackageVirtualboxOptions): Promise<PackagedBox> {
  const work = `${options.outputPath}.vbox-${process.pid}`;
  await mkdir(work, {recursive: true});
  try {
    const vmdk = path.join(work, 'box-disk001.vmdk');
    await run('qemu-img', ['convert', '-O', 'vmdk', '-o', 'subformat=streamOptimized', options.imagePath, vmdk], {errorCode: 'ERR_QEMU_IMG', hint: 'Install qemu-utils (apt-get install qemu-utils).', signal: options.signal});
    const info = JSON.parse(await run('qemu-img', ['info', '--output=json', options.imagePath], {errorCode: 'ERR_QEMU_IMG'})) as {'virtual-size': number};
    const ovf = virtualboxOvf({
      name: options.name, diskFile: 'box-disk001.vmdk', diskBytes: info['virtual-size'], vmdkBytes: (await stat(vmdk)).size,
      cpus: options.cpus ?? 1, memoryMiB: options.memoryMiB ?? 1024, ...options.hardware,
    });
    return await packageBox({
      provider: 'virtualbox',
      metadata: options.extraMetadata,
      files: [{name: 'box.ovf', content: ovf}, {name: 'box-disk001.vmdk', path: vmdk}],
      outputPath: options.outputPath,
      gzip: options.gzip,
    });
  } finally {
    await rm(work, {recursive: true, force: true});
  }
}
