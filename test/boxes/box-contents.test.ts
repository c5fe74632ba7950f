import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {execa} from 'execa';
import {existsSync} from 'node:fs';
import {readFile, rm, stat} from 'node:fs/promises';
import path from 'node:path';
import {packageVirtualboxBox} from '../../src/boxes/package.js';
import {BoxError} from '../../src/core/errors.js';
import {silentUi} from '../../src/core/ui.js';
import {addBox} from '../../src/boxes/add.js';
import {useTempBoxHome} from '../helpers/box-home.js';
import {libvirtMetadata, makeTar, qcow2Image, writeBox, type TarEntry} from '../fixtures/boxes/make-box.js';

// What a box must hold before it is listed, and disk images that would make QEMU or VirtualBox
// open a file of the host: every case goes through the real add service and leaves nothing.
const work = useTempBoxHome('box-contents-');
let counter = 0;
const signal = new AbortController().signal;

async function add(entries: TarEntry[]): Promise<Awaited<ReturnType<typeof addBox>>> {
  const file = await writeBox(path.join(work.dir(), `c-${counter++}.box`), await makeTar(entries));
  return addBox({source: file, name: `c-${counter}`, ui: silentUi(), signal});
}

/** Nothing of the last box tried (not even a temporary folder) is in the store. */
async function nothingLeft(): Promise<void> {
  assert.equal(existsSync(path.join(work.dir(), 'home', 'boxes', `c-${counter}`)), false, 'nothing is left in the store');
}

async function refused(entries: TarEntry[], code: string, message: RegExp): Promise<void> {
  await assert.rejects(add(entries), (error: unknown) => {
    assert.ok(error instanceof BoxError, String(error));
    assert.equal(error.code, code, error.message);
    assert.match(error.message, message);
    assert.ok(error.hint);
    return true;
  });
  await nothingLeft();
}

/** A qcow2 made by qemu-img with extra `qemu-img create` arguments. */
const qcow2With = (args: string[]): Buffer => qcow2Image({createArgs: args});
const meta: TarEntry = {name: 'metadata.json', content: libvirtMetadata};

describe('a libvirt box must hold what its metadata names', () => {
  test('without box.img it is incomplete', async () => {
    await refused([meta, {name: 'Vagrantfile', content: ''}], 'ERR_BOX_INCOMPLETE', /is not a complete box: its disk image box\.img is missing/);
  });

  test('a kernel and initrd named in metadata.json must be in the box', async () => {
    const withKernel = JSON.stringify({provider: 'libvirt', format: 'qcow2', kernel: 'vmlinuz', initrd: 'initrd.img'});
    await refused([{name: 'metadata.json', content: withKernel}, {name: 'box.img', content: qcow2Image()}, {name: 'vmlinuz', content: 'k'}],
      'ERR_BOX_INCOMPLETE', /metadata\.json's initrd "initrd\.img" is missing/);
    await refused([{name: 'metadata.json', content: JSON.stringify({provider: 'libvirt', kernel: '../../../boot/vmlinuz'})}, {name: 'box.img', content: qcow2Image()}],
      'ERR_BOX_UNSAFE_PATH', /metadata\.json's kernel "\.\.\/\.\.\/\.\.\/boot\/vmlinuz" is not a file name inside the box/);
    const added = await add([{name: 'metadata.json', content: withKernel}, {name: 'box.img', content: qcow2Image()}, {name: 'vmlinuz', content: 'k'}, {name: 'initrd.img', content: 'i'}]);
    assert.equal(added.metadata.kernel, 'vmlinuz');
  });

  test('a kernel set in the Vagrantfile must be in the box', async () => {
    const vagrantfile = 'Vagrant.configure("2") do |config|\n  config.vm.provider :libvirt do |libvirt|\n    libvirt.kernel = File.expand_path("../vmlinuz", __FILE__)\n  end\nend\n';
    await refused([meta, {name: 'box.img', content: qcow2Image()}, {name: 'Vagrantfile', content: vagrantfile}],
      'ERR_BOX_INCOMPLETE', /the Vagrantfile's libvirt\.kernel "vmlinuz" is missing/);
  });

  test('settings of the Vagrantfile that box does not use are returned as warnings (at most 20, then a count)', async () => {
    const lines = Array.from({length: 30}, (_, i) => `    libvirt.setting_${i} = "x"`).join('\n');
    const added = await add([meta, {name: 'box.img', content: qcow2Image()}, {name: 'Vagrantfile', content: `Vagrant.configure("2") do |config|\n  config.vm.provider :libvirt do |libvirt|\n${lines}\n  end\nend\n`}]);
    assert.equal(added.warnings.length, 21);
    assert.equal(added.warnings[0], 'Vagrantfile:3: libvirt.setting_0 = "x": box does not use libvirt.setting_0; ignored.');
    assert.equal(added.warnings[20], '... and 10 more settings of the Vagrantfile that box does not use.');
  });

  test('a multi-disk (format v2) libvirt box is refused as not supported yet', async () => {
    await refused([{name: 'metadata.json', content: JSON.stringify({provider: 'libvirt', format: 'qcow2', disks: [{path: 'box_1.img'}]})}, {name: 'box_1.img', content: qcow2Image()}],
      'ERR_BOX_UNSUPPORTED', /multi-disk libvirt box .* not supported yet/);
  });
});

describe('a box image must not name files of the host', () => {
  test('a qcow2 box.img with a backing file is refused at add', async () => {
    await refused([meta, {name: 'box.img', content: qcow2With(['-b', '/etc/passwd', '-F', 'raw'])}],
      'ERR_BOX_UNSAFE_IMAGE', /box\.img: it is a qcow2 overlay whose backing file is "\/etc\/passwd": QEMU would read that file from this host/);
  });

  test('a qcow2 box.img with an external data file is refused without opening it (a FIFO would hang qemu-img)', async () => {
    const dataFile = path.join(work.dir(), 'data-file');
    const image = qcow2With(['-o', `data_file=${dataFile}`]);
    // The header names a FIFO now: opening it for reading would block until someone writes.
    await rm(dataFile);
    await execa('mkfifo', [dataFile]);
    const started = Date.now();
    await refused([meta, {name: 'box.img', content: image}], 'ERR_BOX_UNSAFE_IMAGE', /box\.img: its data is kept in an external data file \(qcow2 data-file\): QEMU would open that file on this host/);
    assert.ok(Date.now() - started < 20_000, 'decided from the header alone');
  });

  test('an image declared raw that is really a qcow2 (which a probing tool would follow) is refused', async () => {
    await refused([{name: 'metadata.json', content: JSON.stringify({provider: 'libvirt', format: 'raw'})}, {name: 'box.img', content: qcow2With(['-b', '/etc/passwd', '-F', 'raw'])}],
      'ERR_BOX_INVALID', /box\.img is declared raw but is a qcow2 image/);
  });

  test('a VMDK descriptor posing as box.img is refused', async () => {
    await refused([meta, {name: 'box.img', content: '# Disk DescriptorFile\nversion=1\nparentCID=ffffffff\ncreateType="monolithicFlat"\nRW 2048 FLAT "/etc/passwd" 0\n'}],
      'ERR_BOX_INVALID', /box\.img is declared qcow2 but is a vmdk \(descriptor\) image/);
  });

  test('a raw image declared raw is accepted', async () => {
    const added = await add([{name: 'metadata.json', content: JSON.stringify({provider: 'libvirt', format: 'raw', virtual_size: 1})}, {name: 'box.img', content: Buffer.alloc(64 * 1024)}]);
    assert.equal(added.metadata.format, 'raw');
  });
});

describe('a virtualbox box: the OVF and what its disks name stay inside the box', () => {
  const ovf = (href: string): string => `<?xml version="1.0"?>\n<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"><References><File ovf:id="file1" ovf:href="${href}"/></References></Envelope>\n`;
  const vbMeta: TarEntry = {name: 'metadata.json', content: '{"provider": "virtualbox"}'};
  const descriptor = (extent: string, extra = ''): string => `# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\n${extra}createType="monolithicFlat"\n\n# Extent description\nRW 2048 FLAT "${extent}" 0\n`;

  test('without an .ovf it is incomplete', async () => {
    await refused([vbMeta, {name: 'box-disk001.vmdk', content: 'x'}], 'ERR_BOX_INCOMPLETE', /a virtualbox box needs box\.ovf/);
  });

  test('a disk the OVF references must be in the box', async () => {
    await refused([vbMeta, {name: 'box.ovf', content: ovf('box-disk001.vmdk')}], 'ERR_BOX_INCOMPLETE', /the disk box\.ovf references "box-disk001\.vmdk" is missing/);
    await refused([vbMeta, {name: 'box.ovf', content: ovf('../../../etc/passwd')}], 'ERR_BOX_UNSAFE_PATH', /the disk box\.ovf references "\.\.\/\.\.\/\.\.\/etc\/passwd" is not a file name inside the box/);
  });

  test('a VMDK whose extent names a host file is refused', async () => {
    await refused([vbMeta, {name: 'box.ovf', content: ovf('box-disk001.vmdk')}, {name: 'box-disk001.vmdk', content: descriptor('/etc/passwd')}],
      'ERR_BOX_UNSAFE_IMAGE', /its extent "\/etc\/passwd" is outside the box, and VirtualBox would read it from this host/);
    await refused([vbMeta, {name: 'box.ovf', content: ovf('box-disk001.vmdk')}, {name: 'box-disk001.vmdk', content: descriptor('../../x-flat.vmdk')}],
      'ERR_BOX_UNSAFE_IMAGE', /its extent "\.\.\/\.\.\/x-flat\.vmdk" is outside the box/);
  });

  test('a delta VMDK naming a parent disk is refused', async () => {
    await refused([vbMeta, {name: 'box.ovf', content: ovf('box-disk001.vmdk')}, {name: 'box-disk001.vmdk', content: descriptor('flat.vmdk', 'parentFileNameHint="/var/lib/secret.vmdk"\n')}, {name: 'flat.vmdk', content: Buffer.alloc(1024)}],
      'ERR_BOX_UNSAFE_IMAGE', /delta disk of the parent "\/var\/lib\/secret\.vmdk"/);
  });

  test('a VMDK with its extent inside the box, and a box made by packageVirtualboxBox, are accepted', async () => {
    const flat = await add([vbMeta, {name: 'box.ovf', content: ovf('box-disk001.vmdk')}, {name: 'box-disk001.vmdk', content: descriptor('box-disk001-flat.vmdk')}, {name: 'box-disk001-flat.vmdk', content: Buffer.alloc(2048 * 512)}]);
    assert.equal(flat.provider, 'virtualbox');
    const image = path.join(work.dir(), 'vb-source.qcow2');
    await execa('qemu-img', ['create', '-q', '-f', 'qcow2', image, '16M']);
    const made = await packageVirtualboxBox({imagePath: image, outputPath: path.join(work.dir(), 'made-vb.box'), name: 'vb'});
    const added = await addBox({source: made.path, name: 'made-vb', ui: silentUi(), signal});
    assert.ok(existsSync(path.join(added.dir, 'box-disk001.vmdk')));
    assert.ok((await stat(path.join(added.dir, 'box.ovf'))).size > 0);
    assert.match(await readFile(path.join(added.dir, 'box.ovf'), 'utf8'), /ovf:href="box-disk001\.vmdk"/);
  });
});
