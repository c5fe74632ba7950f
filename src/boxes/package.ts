import {createHash} from 'node:crypto';
import {createReadStream, createWriteStream} from 'node:fs';
import {mkdir, rename, rm, stat} from 'node:fs/promises';
import path from 'node:path';
import {Transform} from 'node:stream';
import {pipeline} from 'node:stream/promises';
import {createGzip} from 'node:zlib';
import tar from 'tar-stream';
import {BoxError} from '../core/errors.js';
import {run} from '../core/exec.js';

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
}

export interface PackagedBox {
  path: string;
  sha256: string;
  size: number;
}

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
  const pack = tar.pack();
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
        const mtime = new Date();
        if ('content' in file) {
          const buffer = Buffer.isBuffer(file.content) ? file.content : Buffer.from(file.content);
          await new Promise<void>((resolve, reject) => pack.entry({name: file.name, size: buffer.length, mode: 0o644, mtime}, buffer, (e) => (e ? reject(e) : resolve())));
          continue;
        }
        const s = await stat(file.path).catch(() => undefined);
        if (!s?.isFile()) throw new BoxError('ERR_BOX_PACKAGE', `Cannot package ${file.path} as ${file.name}: not a file.`, {hint: 'Check the path of the image or extra file.'});
        const entry = pack.entry({name: file.name, size: s.size, mode: 0o644, mtime});
        await pipeline(createReadStream(file.path, {highWaterMark: 1024 * 1024}), entry);
      }
      pack.finalize();
    })();
    await Promise.all([adding.catch((error) => {
      pack.destroy(error);
      throw error;
    }), writing]);
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
  gzip?: boolean;
}

// vagrant-libvirt reads provider defaults from a Vagrantfile inside the box; this one only
// says the box wants the kvm driver, which is vagrant-libvirt's own default too.
const LIBVIRT_VAGRANTFILE = `# Box made by box for the vagrant-libvirt provider.
Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |libvirt|
    libvirt.driver = "kvm"
  end
end
`;

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
    metadata: {...options.extraMetadata, format: 'qcow2', virtual_size: size},
    files: [{name: 'box.img', path: options.imagePath}, {name: 'Vagrantfile', content: LIBVIRT_VAGRANTFILE}, ...extra],
    outputPath: options.outputPath,
    gzip: options.gzip,
  });
}
