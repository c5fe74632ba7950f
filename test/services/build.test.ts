import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {createHash} from 'node:crypto';
import {existsSync} from 'node:fs';
import {appendFile, mkdir, readFile, readdir, rm, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {execa} from 'execa';
import {registerBuildMethod, type BuildState} from '../../src/builder/methods/index.js';
import {loadTemplate} from '../../src/builder/template.js';
import {BoxError} from '../../src/core/errors.js';
import {Ui, silentUi} from '../../src/core/ui.js';
import {buildBox, hashInputs} from '../../src/services/build.js';
import {tempDir} from '../helpers/cli.js';

// The generic tail of `box build` (cache key, compress, package, catalog, cleanup) driven by a
// stand-in method that makes a small real raw disk, so it runs without root or a mirror. The
// stand-in takes the `box` slot of the registry in this test process only.
let behaviour: 'ok' | 'fail' | 'hang' = 'ok';
const seenWorkDirs: string[] = [];
registerBuildMethod({
  name: 'box',
  preflight: async () => undefined,
  cacheInputs: async () => ({fake: 1}),
  plan: () => ['make a 1 GiB raw disk with a marker'],
  steps: () => [{
    name: 'fake-disk',
    async run(state: BuildState, signal: AbortSignal) {
      seenWorkDirs.push(state.workDir);
      const raw = path.join(state.workDir, 'disk.raw');
      await execa('qemu-img', ['create', '-q', '-f', 'raw', raw, '1G']);
      await writeFile(raw, Buffer.from('box build marker'), {flag: 'r+'});
      if (behaviour === 'fail') throw new BoxError('ERR_FAKE', 'the fake step failed');
      if (behaviour === 'hang') {
        // The test aborts as soon as disk.raw exists, which can be before this line: an abort
        // that already happened must count too (else the promise never settles).
        await new Promise((_, reject) => {
          const stop = () => reject(Object.assign(new Error('aborted'), {name: 'AbortError'}));
          if (signal.aborted) stop();
          else signal.addEventListener('abort', stop, {once: true});
        });
      }
      state.artifact = {imagePath: raw, format: 'raw', virtualSizeGiB: 1, extraFiles: {}, extraMetadata: {kernel_version: 'none'}};
    },
  }],
});

describe('box build service', () => {
  let tmp: {dir: string; cleanup: () => Promise<void>};
  let templateDir: string;
  let workRoot: string;
  const ac = new AbortController();
  const opts = (extra: Record<string, unknown> = {}) => ({
    template: 'fake-os', templateDirs: [path.join(tmp.dir, 'templates')], outputDir: path.join(tmp.dir, 'out'),
    workRoot, ui: silentUi(), signal: ac.signal, ...extra,
  });

  before(async () => {
    tmp = await tempDir('box-build-service-');
    templateDir = path.join(tmp.dir, 'templates', 'fake-os');
    workRoot = path.join(tmp.dir, 'work');
    await mkdir(path.join(templateDir, 'scripts'), {recursive: true});
    await writeFile(path.join(templateDir, 'template.yaml'), [
      'description: a fake OS for tests',
      'version: "1.2.3"',
      'method: box',
      'source: box base',
      'variables:',
      '  flavour: {default: plain}',
      'post_install: [scripts/setup.sh, _scripts/cleanup.sh]',
      '',
    ].join('\n'));
    await writeFile(path.join(templateDir, 'scripts', 'setup.sh'), 'echo setup\n');
  });
  after(() => tmp.cleanup());

  test('the inputs hash changes with a template file, a shared script or a variable, and only then', async () => {
    const base = await loadTemplate(templateDir);
    const h1 = await hashInputs(base, {fake: 1});
    assert.equal(await hashInputs(await loadTemplate(templateDir), {fake: 1}), h1);
    assert.notEqual(await hashInputs(await loadTemplate(templateDir, {flavour: 'spicy'}), {fake: 1}), h1);
    assert.notEqual(await hashInputs(base, {fake: 2}), h1);
    const script = path.join(templateDir, 'scripts', 'setup.sh');
    const before = await readFile(script, 'utf8');
    await appendFile(script, 'echo more\n');
    assert.notEqual(await hashInputs(base, {fake: 1}), h1);
    await writeFile(script, before);
  });

  test('the inputs hash sees nested method inputs and ignores key order', async () => {
    const base = await loadTemplate(templateDir);
    const h1 = await hashInputs(base, {source: {name: 'a', version: '1.0.0'}, tool: 'x'});
    assert.equal(await hashInputs(base, {tool: 'x', source: {version: '1.0.0', name: 'a'}}), h1);
    assert.notEqual(await hashInputs(base, {source: {name: 'a', version: '1.1.0'}, tool: 'x'}), h1);
  });

  test('--dry-run returns the plan and creates nothing', async () => {
    const result = await buildBox(opts({dryRun: true, outputDir: path.join(tmp.dir, 'dry')}));
    assert.ok(result.dryRun);
    assert.ok(result.dryRun.plan.some((l) => l.includes('make a 1 GiB raw disk')));
    assert.ok(result.dryRun.plan.some((l) => l.startsWith('compress: qemu-img convert -c')));
    assert.deepEqual(result.dryRun.variables, {flavour: 'plain'});
    assert.equal(existsSync(path.join(tmp.dir, 'dry')), false);
  });

  test('a build compresses, packages a libvirt box, writes its catalog and build record, and removes its work folder', async () => {
    const result = await buildBox(opts());
    assert.equal(result.cacheHit, false);
    assert.equal(result.box.path, path.join(tmp.dir, 'out', 'fake-os-1.2.3-libvirt.box'));
    const bytes = await readFile(result.box.path);
    assert.equal(createHash('sha256').update(bytes).digest('hex'), result.box.sha256);
    assert.equal(bytes.length, result.box.size);
    assert.deepEqual(result.steps.map((s) => s.name), ['prepare', 'fake-disk', 'compress', 'package', 'catalog']);

    const catalog = JSON.parse(await readFile(path.join(tmp.dir, 'out', 'fake-os.json'), 'utf8'));
    assert.equal(catalog.name, 'fake-os');
    const provider = catalog.versions[0].providers[0];
    assert.equal(catalog.versions[0].version, '1.2.3');
    assert.equal(provider.name, 'libvirt');
    assert.equal(provider.checksum, result.box.sha256);
    assert.equal(provider.url, 'fake-os-1.2.3-libvirt.box');

    const unpacked = path.join(tmp.dir, 'unpacked');
    await mkdir(unpacked);
    await execa('tar', ['-xf', result.box.path, '-C', unpacked]);
    const metadata = JSON.parse(await readFile(path.join(unpacked, 'metadata.json'), 'utf8'));
    assert.equal(metadata.provider, 'libvirt');
    assert.equal(metadata.format, 'qcow2');
    assert.equal(metadata.virtual_size, 1);
    assert.equal(metadata.box_build.inputs_hash, result.inputsHash);
    const info = JSON.parse((await execa('qemu-img', ['info', '--output=json', path.join(unpacked, 'box.img')])).stdout);
    assert.equal(info.format, 'qcow2');
    assert.equal(info['format-specific'].data['compression-type'], 'zstd');
    // The marker written into the raw disk survived compression.
    const back = (await execa('qemu-img', ['dd', '-f', 'qcow2', '-O', 'raw', `if=${path.join(unpacked, 'box.img')}`, `of=${path.join(unpacked, 'head.raw')}`, 'bs=16', 'count=1'])).exitCode;
    assert.equal(back, 0);
    assert.equal((await readFile(path.join(unpacked, 'head.raw'))).subarray(0, 16).toString(), 'box build marker');

    assert.deepEqual(await readdir(workRoot), [], 'the work folder is gone');
  });

  test('an identical rebuild is a cache hit in under a second; --force and a changed variable rebuild', async () => {
    const first = await buildBox(opts());
    assert.equal(first.cacheHit, true);
    assert.ok(first.totalMs < 1000, `cache hit took ${first.totalMs} ms`);
    assert.deepEqual(first.steps, []);
    const forced = await buildBox(opts({force: true}));
    assert.equal(forced.cacheHit, false);
    assert.notEqual(forced.steps.length, 0);
    const spicy = await buildBox(opts({vars: {flavour: 'spicy'}}));
    assert.equal(spicy.cacheHit, false);
    assert.notEqual(spicy.inputsHash, first.inputsHash);
  });

  test('--add installs the built box with the store\'s own add, in this process (its lines reach the build\'s Ui)', async () => {
    const savedHome = process.env.BOX_HOME;
    process.env.BOX_HOME = path.join(tmp.dir, 'home-add');
    const lines: string[] = [];
    const ui = new Ui({stream: {isTTY: false, write: (t: string) => lines.push(...t.replace(/\n$/, '').split('\n'))} as unknown as NodeJS.WriteStream});
    try {
      const result = await buildBox(opts({add: true, ui}));
      assert.deepEqual(result.added, {name: 'fake-os', version: '1.2.3', provider: 'libvirt'});
      const stored = path.join(process.env.BOX_HOME, 'boxes', 'fake-os', '1.2.3', 'libvirt');
      assert.ok(existsSync(path.join(stored, 'box.img')) && existsSync(path.join(stored, 'metadata.json')), 'the box is in the store');
      assert.ok(lines.some((l) => l.includes('Added fake-os 1.2.3 (libvirt)')), `the add ran here, not in a child box process:\n${lines.join('\n')}`);
    } finally {
      if (savedHome === undefined) delete process.env.BOX_HOME; // assigning undefined would set the string 'undefined'
    else process.env.BOX_HOME = savedHome;
    }
  });

  test('a box file replaced behind the cache\'s back is rebuilt, not trusted', async () => {
    const first = await buildBox(opts());
    await appendFile(first.box.path, 'garbage');
    const again = await buildBox(opts());
    assert.equal(again.cacheHit, false);
  });

  test('a failing step leaves no partial box, no build record and no work folder', async () => {
    const out = path.join(tmp.dir, 'out-fail');
    behaviour = 'fail';
    try {
      await assert.rejects(buildBox(opts({outputDir: out})), (error: BoxError) => error.code === 'ERR_FAKE');
    } finally {
      behaviour = 'ok';
    }
    assert.deepEqual((await readdir(out)).filter((f) => !f.startsWith('.build')), []);
    assert.deepEqual(await readdir(workRoot), []);
  });

  test('--on-error abort keeps the work files of a failed build for debugging', async () => {
    const out = path.join(tmp.dir, 'out-keep');
    behaviour = 'fail';
    try {
      await assert.rejects(buildBox(opts({outputDir: out, onError: 'abort'})), (error: BoxError) => error.code === 'ERR_FAKE');
    } finally {
      behaviour = 'ok';
    }
    const kept = await readdir(workRoot);
    assert.equal(kept.length, 1);
    assert.ok(existsSync(path.join(workRoot, kept[0], 'disk.raw')));
    await rm(path.join(workRoot, kept[0]), {recursive: true, force: true});
  });

  test('--on-error ask asks once at the failing step and does what the answer says', async () => {
    behaviour = 'fail';
    const asked: string[] = [];
    try {
      const keep = path.join(tmp.dir, 'out-ask-abort');
      await assert.rejects(buildBox(opts({outputDir: keep, onError: 'ask', askOnError: async (step: string) => { asked.push(step); return 'abort'; }})), (error: BoxError) => error.code === 'ERR_FAKE');
      const kept = await readdir(workRoot);
      assert.equal(kept.length, 1, 'answered abort: the work files stay');
      await rm(path.join(workRoot, kept[0]), {recursive: true, force: true});

      const clean = path.join(tmp.dir, 'out-ask-cleanup');
      await assert.rejects(buildBox(opts({outputDir: clean, onError: 'ask', askOnError: async (step: string) => { asked.push(step); return 'cleanup'; }})), (error: BoxError) => error.code === 'ERR_FAKE');
      assert.deepEqual(await readdir(workRoot), [], 'answered cleanup: nothing stays');
      assert.deepEqual(asked, ['fake-disk', 'fake-disk'], 'asked once per build, naming the failed step');
    } finally {
      behaviour = 'ok';
    }
  });

  test('Ctrl-C during a step runs the cleanups and reports an interruption', async () => {
    const out = path.join(tmp.dir, 'out-abort');
    behaviour = 'hang';
    const controller = new AbortController();
    try {
      const pending = buildBox(opts({outputDir: out, signal: controller.signal}));
      while (!seenWorkDirs.some((d) => d.includes('box-build-fake-os-') && existsSync(path.join(d, 'disk.raw')))) await new Promise((r) => setTimeout(r, 50));
      controller.abort();
      await assert.rejects(pending, (error: BoxError) => error.code === 'ERR_INTERRUPTED' && error.exitCode === 130);
    } finally {
      behaviour = 'ok';
    }
    assert.deepEqual(await readdir(workRoot), []);
    assert.equal(existsSync(path.join(out, 'build.json')), false);
  });

  test('a template whose method is not available fails before anything runs', async () => {
    const dir = path.join(tmp.dir, 'templates', 'iso-os');
    await mkdir(dir, {recursive: true});
    await writeFile(path.join(dir, 'template.yaml'), 'method: iso\niso: {urls: [http://example.invalid/x.iso], checksum: none}\n');
    const {buildMethods} = await import('../../src/builder/methods/index.js');
    if (buildMethods.iso) return assert.equal(buildMethods.iso.name, 'iso'); // registered by the installer module
    await assert.rejects(buildBox(opts({template: 'iso-os'})), (error: BoxError) => error.code === 'ERR_BUILD_METHOD' && error.exitCode === 2);
  });

  test('--target virtualbox packages the same build as a VirtualBox appliance (box.ovf + stream-optimized VMDK) with its own cache key', async () => {
    const out = path.join(tmp.dir, 'out-vbox');
    const result = await buildBox(opts({outputDir: out, target: 'virtualbox'}));
    assert.equal(result.provider, 'virtualbox');
    assert.equal(result.box.path, path.join(out, 'fake-os-1.2.3-virtualbox.box'));
    assert.deepEqual(result.steps.map((s) => s.name), ['prepare', 'fake-disk', 'package', 'catalog'], 'no qcow2 compression pass');
    const libvirt = await buildBox(opts({outputDir: path.join(tmp.dir, 'out-vbox-libvirt')}));
    assert.notEqual(result.inputsHash, libvirt.inputsHash);

    const catalog = JSON.parse(await readFile(path.join(out, 'fake-os.json'), 'utf8'));
    assert.equal(catalog.versions[0].providers[0].name, 'virtualbox');
    const unpacked = path.join(tmp.dir, 'unpacked-vbox');
    await mkdir(unpacked);
    await execa('tar', ['-xf', result.box.path, '-C', unpacked]);
    assert.deepEqual((await readdir(unpacked)).sort(), ['box-disk001.vmdk', 'box.ovf', 'metadata.json']);
    const metadata = JSON.parse(await readFile(path.join(unpacked, 'metadata.json'), 'utf8'));
    assert.equal(metadata.provider, 'virtualbox');
    assert.equal(metadata.box_build.inputs_hash, result.inputsHash);
    const ovf = await readFile(path.join(unpacked, 'box.ovf'), 'utf8');
    assert.match(ovf, /ovf:href="box-disk001\.vmdk"/);
    assert.match(ovf, /ovf:capacity="1073741824"/);
    // The fake template says neither ide nor e1000: VirtualBox's SATA, and virtio-net as in QEMU.
    assert.match(ovf, /<rasd:ResourceSubType>AHCI<\/rasd:ResourceSubType>/);
    assert.match(ovf, /<rasd:ResourceSubType>virtio<\/rasd:ResourceSubType>/);
    const info = JSON.parse((await execa('qemu-img', ['info', '--output=json', path.join(unpacked, 'box-disk001.vmdk')])).stdout);
    assert.equal(info.format, 'vmdk');
    assert.equal(info['format-specific'].data['create-type'], 'streamOptimized');
    const back = path.join(unpacked, 'head.raw');
    await execa('qemu-img', ['dd', '-f', 'vmdk', '-O', 'raw', `if=${path.join(unpacked, 'box-disk001.vmdk')}`, `of=${back}`, 'bs=16', 'count=1']);
    assert.equal((await readFile(back)).subarray(0, 16).toString(), 'box build marker', 'the disk content made it into the VMDK');
    assert.deepEqual(await readdir(workRoot), [], 'the work folder is gone');
  });
});
