import {createHash, randomUUID} from 'node:crypto';
import {existsSync} from 'node:fs';
import {mkdir, readFile, readdir, rename, rm, stat} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {packageLibvirtBox, packageVirtualboxBox, writeCatalog, type VirtualboxHardware} from '../boxes/package.js';
import {memoryMiB} from '../boxfile/sizes.js';
import {removeRootfs} from '../builder/methods/debootstrap/mounts.js';
import {buildMethods, type BuildState} from '../builder/methods/index.js';
import {loadTemplate, type LoadedTemplate, type VariableValues} from '../builder/template.js';
import {familyChoice, resolveTemplate} from '../builder/template-families.js';
import {resolveTemplateFile} from '../builder/templates-dir.js';
import {provisionerHostPaths} from '../builder/build-provisioners.js';
import {BoxError, UsageError, errorMessage, isAbortError} from '../core/errors.js';
import {run} from '../core/exec.js';
import {readJson, writeJsonAtomic} from '../core/fs-json.js';
import {withLock} from '../core/lock.js';
import {userPaths} from '../core/paths.js';
import {runSteps, type Step} from '../core/steps.js';
import type {Ui} from '../core/ui.js';
import {askingSteps, terminalAsk, type AskOnError, type OnError} from '../builder/on-error.js';
import {addBox} from '../boxes/add.js';
import {removeBuildRecord, removeDeadBuilds, writeBuildRecord} from './build-records.js';
import {hardwareOf} from '../boxes/metadata.js';

/** Bumped when the generic tail (compress, package, metadata) changes what a build produces. */
const BUILD_FORMAT = 1;
export const BUILD_RECORD = 'build.json';
const PROVIDER = 'libvirt';

export interface BuildOptions {
  template: string;
  vars?: VariableValues;
  outputDir?: string;
  templateDirs?: string[];
  force?: boolean;
  dryRun?: boolean;
  /** Also add the box to the local store. */
  add?: boolean;
  onError?: OnError;
  /** Answers `--on-error ask` (default: a prompt on the terminal; cleanup without one). */
  askOnError?: AskOnError;
  /** Target the box is for; libvirt (qemu) boxes for now, the method decides what else it can make. */
  target?: 'qemu' | 'virtualbox';
  ui: Ui;
  signal: AbortSignal;
  /** Where work files go (default: the OS temp folder). */
  workRoot?: string;
  /** Download cache (debootstrap .debs, ISOs); default `~/.box/cache`. */
  cacheDir?: string;
}

export interface BuildResult {
  template: string;
  /** The family name typed instead of a template name (`box build centos`), when it was one. */
  family?: string;
  method: string;
  name: string;
  version: string;
  provider: string;
  outputDir: string;
  box: {path: string; sha256: string; size: number};
  catalog: string;
  inputsHash: string;
  cacheHit: boolean;
  steps: Array<{name: string; ms: number}>;
  totalMs: number;
  added?: {name: string; version: string; provider: string};
  dryRun?: {plan: string[]; variables: Record<string, string>};
}

/** What `<output>/build.json` records, to answer an identical rebuild from cache. */
interface BuildRecord {
  inputs_hash: string;
  template: string;
  name: string;
  version: string;
  method: string;
  box: {path: string; sha256: string; size: number; mtimeMs: number};
  catalog: string;
  built_at: string;
  steps: Array<{name: string; ms: number}>;
}

/**
 * `box build`: resolve the template and its variables, hash every input, answer from the cache
 * when nothing changed, else run the method's steps then the generic tail (compress → package →
 * catalog → optional add) with cleanups on failure or Ctrl-C.
 */
export async function buildBox(options: BuildOptions): Promise<BuildResult> {
  const t0 = performance.now();
  const ref = await resolveTemplate(options.template, options.templateDirs);
  const chosen = familyChoice(options.template, ref);
  if (chosen) options.ui.info(chosen);
  const template = await loadTemplate(ref.dir, options.vars ?? {});
  const method = buildMethods[template.definition.method];
  if (!method) {
    throw new UsageError('ERR_BUILD_METHOD', `Template ${template.file} uses method "${template.definition.method}", which this box does not support yet.`, {
      hint: `Supported methods: ${Object.keys(buildMethods).join(', ')}.`,
    });
  }
  // Every method builds with QEMU; --target picks how the result is packaged (libvirt box.img,
  // or a VirtualBox appliance: box.ovf + stream-optimized VMDK), as Packer's post-processors do.
  const provider = (options.target ?? 'qemu') === 'virtualbox' ? 'virtualbox' : PROVIDER;
  const outputDir = path.resolve(options.outputDir ?? path.join('output', template.name));
  const version = template.definition.version;
  const boxPath = path.join(outputDir, `${template.name}-${version}-${provider}.box`);
  const catalogPath = path.join(outputDir, `${template.name}.json`);
  const methodInputs = await method.cacheInputs(template);
  const inputsHash = await hashInputs(template, provider === PROVIDER ? methodInputs : {...methodInputs, boxProvider: provider, vbox: virtualboxHardware(template, method.name)});

  const base = {template: ref.name, ...(ref.family ? {family: ref.family.family} : {}), method: method.name, name: template.name, version, provider, outputDir, catalog: catalogPath, inputsHash};
  if (options.dryRun) {
    const masked = Object.fromEntries(Object.entries(template.variables).map(([k, v]) => [k, template.sensitive.includes(k) ? '********' : v]));
    const plan = [
      ...method.plan(template),
      ...(provider === PROVIDER
        ? ['compress: qemu-img convert -c -O qcow2 -o compression_type=zstd', `package: ${boxPath} (libvirt box: metadata.json + box.img)`]
        : [`package: ${boxPath} (virtualbox box: metadata.json + box.ovf + stream-optimized box-disk001.vmdk; ${describeHardware(virtualboxHardware(template, method.name))})`]),
      `catalog: ${catalogPath}`,
      ...(options.add ? [`add to the store as ${template.name} ${version}`] : []),
    ];
    for (const line of plan) options.ui.info(`  - ${line}`);
    return {...base, box: {path: boxPath, sha256: '', size: 0}, cacheHit: false, steps: [], totalMs: Math.round(performance.now() - t0), dryRun: {plan, variables: masked}};
  }

  await mkdir(outputDir, {recursive: true});
  // One build per output folder at a time: a second one waits, then usually hits the cache.
  return withLock(path.join(outputDir, '.build'), {what: `build output ${outputDir}`, waitMs: 6 * 3600_000}, async () => {
    const cached = options.force ? undefined : await cachedBuild(outputDir, inputsHash, boxPath);
    if (cached) {
      options.ui.success(`Inputs unchanged (${inputsHash.slice(0, 12)}): ${cached.box.path} is up to date. Use --force to rebuild.`);
      const added = options.add ? await addToStore(template.name, version, cached.box.path, provider, options) : undefined;
      return {...base, box: {path: cached.box.path, sha256: cached.box.sha256, size: cached.box.size}, cacheHit: true, steps: [], totalMs: Math.round(performance.now() - t0), ...(added ? {added} : {})};
    }

    await method.preflight(template);
    const steps: Array<{name: string; ms: number}> = [];
    const state: BuildState & {box?: {path: string; sha256: string; size: number}; partial?: string} = {
      template,
      workDir: '',
      outputDir,
      boxName: template.name,
      boxVersion: version,
      cacheDir: options.cacheDir ?? userPaths.cache(),
      ui: options.ui,
      onError: options.onError ?? 'cleanup',
      askOnError: options.askOnError ?? terminalAsk(options.ui, {signal: options.signal}),
      data: {},
    };
    const recordId = randomUUID();
    const workStep: Step<typeof state> = {
      name: 'prepare',
      async run(s) {
        await removeDeadBuilds(options.ui);
        const root = options.workRoot ?? os.tmpdir();
        await mkdir(root, {recursive: true});
        // Named and recorded before it exists: a build killed with -9 from here on leaves a trail.
        const workDir = path.join(root, `box-build-${template.name}-${recordId.slice(0, 8)}`);
        await writeBuildRecord({id: recordId, pid: process.pid, template: template.name, workDir, boxPath, startedAt: new Date().toISOString()});
        await mkdir(workDir, {mode: 0o700});
        s.workDir = workDir;
      },
      async cleanup(s, outcome) {
        if (!s.workDir) return;
        if (outcome === 'failed' && s.onError !== 'cleanup') {
          options.ui.warn(`Keeping the work folder for debugging: ${s.workDir}`);
          // Kept on purpose: the next build must not take it (and its VM) away.
          await removeBuildRecord(recordId);
          return;
        }
        // Unmounts anything a killed tool left mounted inside, then rm --one-file-system.
        await removeRootfs(s.workDir);
        await removeBuildRecord(recordId);
      },
    };
    const compressStep: Step<typeof state> = {
      name: 'compress',
      async run(s, signal) {
        const artifact = s.artifact;
        if (!artifact) throw new BoxError('ERR_BUILD_STEP', `Build method ${method.name} produced no disk image.`);
        const out = path.join(s.workDir, 'box.img');
        await run('qemu-img', ['convert', '-c', '-f', artifact.format, '-O', 'qcow2', '-o', 'compression_type=zstd', artifact.imagePath, out], {
          signal, errorCode: 'ERR_QEMU_IMG', timeoutMs: 60 * 60_000,
        });
        // The raw image is no longer needed: free its space before packaging copies the qcow2.
        if (artifact.imagePath !== out) await rm(artifact.imagePath, {force: true});
        s.artifact = {...artifact, imagePath: out, format: 'qcow2'};
        options.ui.info(`box.img: ${((await stat(out)).size / 1024 ** 2).toFixed(1)} MiB qcow2 (zstd)`);
      },
    };
    const packageStep: Step<typeof state> = {
      name: 'package',
      async run(s) {
        const artifact = s.artifact!;
        s.partial = `${boxPath}.partial`;
        const boxBuild = {inputs_hash: inputsHash, template: ref.name, method: method.name, version, built_at: new Date().toISOString(), box_cli_format: BUILD_FORMAT};
        const packaged = provider === PROVIDER
          ? await packageLibvirtBox({
            imagePath: artifact.imagePath,
            outputPath: s.partial,
            virtualSizeGiB: artifact.virtualSizeGiB,
            extraFiles: artifact.extraFiles,
            extraMetadata: {...artifact.extraMetadata, box_build: boxBuild},
            // What the build VM ran on is what the system has drivers for: the template's choice,
            // else (from-box builds) the source box's; debootstrap images always get virtio.
            hardware: method.name === 'debootstrap' ? undefined
              : hardwareOf({disk_bus: template.definition.disk_interface, nic_model: template.definition.net_device}) ?? hardwareOf(artifact.extraMetadata),
          })
          // The image has its own bootloader; kernel files for QEMU's direct boot are not needed.
          : await packageVirtualboxBox({
            imagePath: artifact.imagePath,
            outputPath: s.partial,
            name: `${template.name}-${version}`,
            cpus: template.definition.cpus,
            memoryMiB: memoryMiB(template.definition.memory),
            hardware: virtualboxHardware(template, method.name),
            extraMetadata: {box_build: boxBuild},
            signal: options.signal,
          });
        await rename(s.partial, boxPath);
        s.partial = undefined;
        s.box = {path: boxPath, sha256: packaged.sha256, size: packaged.size};
      },
      async cleanup(s, outcome) {
        if (s.partial) await rm(s.partial, {force: true});
        // A box we just renamed into place but could not catalog is not trustworthy.
        if (outcome !== 'succeeded' && s.box) await rm(s.box.path, {force: true});
      },
    };
    const catalogStep: Step<typeof state> = {
      name: 'catalog',
      async run(s) {
        const b = s.box!;
        await writeCatalog({name: template.name, version, provider, url: path.basename(b.path), sha256: b.sha256, description: template.definition.description}, catalogPath);
        const record: BuildRecord = {
          inputs_hash: inputsHash, template: ref.name, name: template.name, version, method: method.name,
          box: {...b, mtimeMs: (await stat(b.path)).mtimeMs}, catalog: catalogPath, built_at: new Date().toISOString(), steps,
        };
        await writeJsonAtomic(path.join(outputDir, BUILD_RECORD), record);
      },
    };

    await rm(path.join(outputDir, BUILD_RECORD), {force: true}); // an interrupted rebuild must not look cached
    try {
      // A VirtualBox box gets its VMDK straight from the built image: no qcow2 compression pass.
      const tail = provider === PROVIDER ? [compressStep, packageStep, catalogStep] : [packageStep, catalogStep];
      await runSteps(askingSteps([workStep, ...method.steps(template), ...tail]), state, {
        ui: options.ui,
        signal: options.signal,
        onError: () => (state.onError === 'abort' ? 'abort' : 'cleanup'),
        onStepDone: (name, ms) => steps.push({name, ms: Math.round(ms)}),
      });
    } catch (error) {
      if (state.onError === 'abort' && state.workDir && existsSync(state.workDir)) {
        options.ui.warn(`Work files kept for debugging in ${state.workDir} (remove it when done).`);
      }
      throw error;
    }
    const box = state.box!;
    options.ui.success(`Built ${box.path} (${(box.size / 1024 ** 2).toFixed(1)} MiB, sha256 ${box.sha256.slice(0, 12)}…)`);
    const added = options.add ? await addToStore(template.name, version, box.path, provider, options) : undefined;
    return {...base, box, cacheHit: false, steps, totalMs: Math.round(performance.now() - t0), ...(added ? {added} : {})};
  });
}

async function cachedBuild(outputDir: string, inputsHash: string, boxPath: string): Promise<BuildRecord | undefined> {
  const record = await readJson<BuildRecord | null>(path.join(outputDir, BUILD_RECORD), null);
  if (!record || record.inputs_hash !== inputsHash || record.box.path !== boxPath) return undefined;
  const info = await stat(boxPath).catch(() => undefined);
  // Size and mtime catch a replaced or truncated box without re-hashing 100 MB.
  if (!info || info.size !== record.box.size || Math.abs(info.mtimeMs - record.box.mtimeMs) > 1) return undefined;
  return record;
}

/**
 * The cache key: every file of the template folder, every script or file it names outside it
 * (shared `_scripts`), resolved variables, the method's own inputs and the build format.
 */
export async function hashInputs(template: LoadedTemplate, methodInputs: Record<string, unknown>): Promise<string> {
  const hash = createHash('sha256');
  const add = (label: string, value: string | Buffer): void => {
    hash.update(`${label}\0${value.length}\0`);
    hash.update(value);
  };
  add('format', String(BUILD_FORMAT));
  for (const file of await listFiles(template.dir)) add(`file:${path.relative(template.dir, file)}`, await readFile(file));
  const d = template.definition;
  const referenced = [
    ...d.post_install.filter((p) => p.script).map((p) => p.script!),
    ...Object.values(d.debootstrap?.files ?? {}),
    // Answer and HTTP files may live in a shared folder next to the template (../common/...).
    ...d.answer_files.map((a) => a.template),
    ...d.http_files.map((f) => f.path),
  ];
  for (const rel of referenced) {
    const file = resolveTemplateFile(template.dir, rel);
    if (!file.startsWith(template.dir + path.sep) && existsSync(file)) add(`ref:${rel}`, await readFile(file));
  }
  // What the provisioners upload or run from outside the template folder (a manifest in ../puppet).
  for (const hostPath of provisionerHostPaths(template)) {
    const info = await stat(hostPath).catch(() => undefined);
    const files = info?.isDirectory() ? await listFiles(hostPath) : info ? [hostPath] : [];
    for (const file of files) if (!file.startsWith(template.dir + path.sep)) add(`provisioner:${file}`, await readFile(file));
  }
  add('variables', JSON.stringify(Object.entries(template.variables).sort()));
  add('method', canonicalJson(methodInputs));
  return hash.digest('hex');
}

/** JSON with object keys sorted at every depth, so equal inputs always hash equal. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v ?? null)).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of (await readdir(dir, {withFileTypes: true})).sort((a, b) => a.name.localeCompare(b.name))) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...await listFiles(full));
    else if (entry.isFile()) out.push(full);
  }
  return out;
}

/**
 * `--add`: installs the box with the store's own add (in this process), so its checks
 * (checksum, safe extraction, layout) apply exactly as for a user's `box box add`.
 */
async function addToStore(name: string, version: string, boxPath: string, provider: string, options: BuildOptions): Promise<{name: string; version: string; provider: string}> {
  options.ui.stage('add', `${name} ${version} to the box store`);
  const byHand = `The box itself is fine: add it by hand with \`box box add ${name} ${boxPath} --box-version ${version}\`.`;
  try {
    await addBox({source: boxPath, name, version, force: true, ui: options.ui, signal: options.signal});
  } catch (error) {
    if (isAbortError(error) || options.signal.aborted) throw error;
    const inner = error instanceof BoxError ? error : undefined;
    throw new BoxError('ERR_BUILD_ADD', `Adding the built box ${boxPath} to the store failed: ${errorMessage(error)}`, {
      hint: [inner?.hint, byHand].filter(Boolean).join(' '), details: {cause: inner?.code, ...inner?.details}, cause: error,
    });
  }
  return {name, version, provider};
}

/**
 * What the VirtualBox VM of a built box gets, so the guest finds its disk and network: the
 * template's own choice for installer builds (sata, or ide; e1000 or virtio), and IDE with
 * virtio-net for debootstrap builds, whose Debian cloud kernel has ata_piix and virtio_net
 * but neither AHCI nor e1000.
 */
export function virtualboxHardware(template: LoadedTemplate, method: string): VirtualboxHardware {
  if (method === 'debootstrap') return {diskController: 'ide', nic: 'virtio'};
  const d = template.definition;
  return {diskController: d.disk_interface === 'ide' ? 'ide' : 'sata', nic: d.net_device === 'e1000' ? 'e1000' : 'virtio'};
}

function describeHardware(h: VirtualboxHardware): string {
  return `${h.diskController === 'ide' ? 'IDE (PIIX4)' : 'SATA (AHCI)'} disk, ${h.nic} NIC`;
}
