/**
 * The `box` build method without booting: source parsing, the store lookup, the cache key
 * (source name + version + identity), the metadata the new box carries, and the plan.
 * Source boxes are real store folders with real (tiny) qcow2 images made by qemu-img.
 */
import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {appendFile, mkdir, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {execa} from 'execa';
import {boxCacheInputs, boxMethod} from '../../src/builder/methods/box/index.js';
import {boxMetadata} from '../../src/builder/methods/box/steps.js';
import {buildMethods} from '../../src/builder/methods/index.js';
import {loadTemplate, validateTemplate} from '../../src/builder/template.js';
import {findTemplate} from '../../src/builder/templates-dir.js';
import {BoxError} from '../../src/core/errors.js';
import type {InstalledBox} from '../../src/boxes/resolve.js';
import {hashInputs} from '../../src/services/build.js';
import {tempDir} from '../helpers/cli.js';

async function storeBox(home: string, name: string, version: string, metadata: Record<string, unknown> = {}): Promise<string> {
  const dir = path.join(home, 'boxes', name, version, 'libvirt');
  await mkdir(dir, {recursive: true});
  await writeFile(path.join(dir, 'metadata.json'), JSON.stringify({provider: 'libvirt', format: 'qcow2', virtual_size: 1, ...metadata}));
  await execa('qemu-img', ['create', '-q', '-f', 'qcow2', path.join(dir, 'box.img'), '1G']);
  return dir;
}

async function writeTemplate(root: string, source: string): Promise<string> {
  const dir = path.join(root, 'custom');
  await mkdir(dir, {recursive: true});
  await writeFile(path.join(dir, 'template.yaml'), `method: box\nsource: "${source}"\npost_install:\n  - inline: ["true"]\n`);
  return dir;
}

describe('template source field', () => {
  test('a plain store name and NAME@constraint both parse', () => {
    assert.deepEqual(validateTemplate({method: 'box', source: 'debian-12-minimal'}).source, {box: 'debian-12-minimal', version: undefined, provider: undefined});
    assert.deepEqual(validateTemplate({method: 'box', source: 'debian-12-minimal@>= 12, < 13'}).source, {box: 'debian-12-minimal', version: '>= 12, < 13', provider: undefined});
  });

  test('the older "box NAME" and object forms still parse', () => {
    assert.equal(validateTemplate({method: 'box', source: 'box debian-12-minimal'}).source?.box, 'debian-12-minimal');
    assert.equal(validateTemplate({method: 'box', source: {box: 'x', version: '1.0'}}).source?.version, '1.0');
  });

  test('method box without a source is an error that names the field', () => {
    assert.throws(() => validateTemplate({method: 'box'}), (e: BoxError) => e.code === 'ERR_TEMPLATE_INVALID' && /source: method box needs source/.test(e.message));
  });

  test('the box method is registered', () => {
    assert.equal(buildMethods.box, boxMethod);
  });
});

describe('box method cache inputs and metadata', () => {
  let home: {dir: string; cleanup: () => Promise<void>};
  let templates: {dir: string; cleanup: () => Promise<void>};
  const saved = process.env.BOX_HOME;

  before(async () => {
    home = await tempDir('box-method-home-');
    templates = await tempDir('box-method-tpl-');
    process.env.BOX_HOME = home.dir;
  });

  after(async () => {
    if (saved === undefined) delete process.env.BOX_HOME;
    else process.env.BOX_HOME = saved;
    await home.cleanup();
    await templates.cleanup();
  });

  test('a missing source box does not break the plan but preflight reports it with an add hint', async () => {
    const template = await loadTemplate(await writeTemplate(templates.dir, 'base-box'));
    const inputs = await boxCacheInputs(template);
    assert.equal((inputs.source as Record<string, unknown>).name, 'base-box');
    assert.equal((inputs.source as Record<string, unknown>).missing, true);
    await assert.rejects(boxMethod.preflight(template), (e: BoxError) => e.code === 'ERR_BOX_NOT_FOUND' && /box box add base-box/.test(e.hint ?? ''));
    assert.ok(boxMethod.plan(template).some((line) => line.includes('source box base-box (libvirt)')));
  });

  test('the cache key names the newest matching source version and changes when a new version arrives', async () => {
    await storeBox(home.dir, 'base-box', '1.0.0');
    const template = await loadTemplate(await writeTemplate(templates.dir, 'base-box'));
    const first = await boxCacheInputs(template);
    assert.equal((first.source as Record<string, unknown>).version, '1.0.0');
    assert.match(String((first.source as Record<string, unknown>).digest), /^[0-9a-f]{64}$/);
    const h1 = await hashInputs(template, first);
    assert.equal(await hashInputs(template, await boxCacheInputs(template)), h1, 'same inputs, same hash');

    await storeBox(home.dir, 'base-box', '1.1.0');
    const second = await boxCacheInputs(template);
    assert.equal((second.source as Record<string, unknown>).version, '1.1.0');
    assert.notEqual(await hashInputs(template, second), h1);

    // A constraint pins the older version again.
    const pinned = await loadTemplate(await writeTemplate(templates.dir, 'base-box@< 1.1'));
    assert.equal(((await boxCacheInputs(pinned)).source as Record<string, unknown>).version, '1.0.0');
  });

  test('a source box replaced under the same version changes the cache key', async () => {
    const dir = await storeBox(home.dir, 'other-box', '2.0.0');
    const template = await loadTemplate(await writeTemplate(templates.dir, 'other-box'));
    const before = await hashInputs(template, await boxCacheInputs(template));
    await appendFile(path.join(dir, 'box.img'), Buffer.alloc(4096, 1));
    assert.notEqual(await hashInputs(template, await boxCacheInputs(template)), before);
    const again = await hashInputs(template, await boxCacheInputs(template));
    await writeFile(path.join(dir, 'metadata.json'), JSON.stringify({provider: 'libvirt', format: 'qcow2', virtual_size: 1, description: 'rebuilt'}));
    assert.notEqual(await hashInputs(template, await boxCacheInputs(template)), again);
  });

  test('the cache inputs of a source box are computed quickly (a cache hit must stay under a second)', async () => {
    const template = await loadTemplate(await writeTemplate(templates.dir, 'other-box'));
    const t0 = performance.now();
    await boxCacheInputs(template);
    assert.ok(performance.now() - t0 < 1000);
  });
});

describe('metadata of a box built from a box', () => {
  const source: InstalledBox = {
    name: 'debian-12-minimal', version: '12.0.0', provider: 'libvirt', dir: '/store/debian',
    metadata: {provider: 'libvirt', format: 'qcow2', virtual_size: 10, kernel: 'vmlinuz', initrd: 'initrd.img', cmdline: 'root=UUID=abc ro', kernel_version: '6.1.0-1', bootloader: 'grub-pc', box_build: {inputs_hash: 'old'}},
  };

  test('the fresh kernel and initrd replace the source copies and the other keys carry over', () => {
    const {extraFiles, extraMetadata} = boxMetadata(source, {vmlinuz: '/w/kernel/vmlinuz', initrd: '/w/kernel/initrd.img', version: '6.1.0-2'});
    assert.deepEqual(extraFiles, {vmlinuz: '/w/kernel/vmlinuz', 'initrd.img': '/w/kernel/initrd.img'});
    assert.equal(extraMetadata.kernel_version, '6.1.0-2');
    assert.equal(extraMetadata.cmdline, 'root=UUID=abc ro');
    assert.equal(extraMetadata.bootloader, 'grub-pc');
    assert.deepEqual(extraMetadata.source_box, {name: 'debian-12-minimal', version: '12.0.0', provider: 'libvirt'});
    for (const own of ['provider', 'format', 'virtual_size', 'box_build']) assert.equal(own in extraMetadata, false, own);
  });

  test('without a fresh kernel the direct-boot keys are dropped rather than left pointing at missing files', () => {
    const {extraFiles, extraMetadata} = boxMetadata(source, undefined);
    assert.deepEqual(extraFiles, {});
    for (const k of ['kernel', 'initrd', 'cmdline', 'kernel_version']) assert.equal(k in extraMetadata, false, k);
    assert.equal(extraMetadata.bootloader, 'grub-pc');
  });
});

describe('the debian-12-custom template', () => {
  test('loads as a from-box build of debian-12-minimal that installs curl', async () => {
    const template = await loadTemplate(findTemplate('debian-12-custom', []).dir);
    assert.equal(template.definition.method, 'box');
    assert.equal(template.definition.source?.box, 'debian-12-minimal');
    assert.equal(template.variables.packages, 'curl');
    assert.deepEqual(template.definition.post_install.map((p) => p.script), ['scripts/install-packages.sh', '_scripts/cleanup.sh', '_scripts/zero-free-space.sh']);
  });
});
