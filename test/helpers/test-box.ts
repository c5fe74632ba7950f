import {createHash} from 'node:crypto';
import {existsSync, mkdirSync} from 'node:fs';
import {readFile, readdir, rm, stat, utimes} from 'node:fs/promises';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import {box, repoRoot} from './cli.js';

/**
 * The real Debian test box (templates/debian-12-minimal, debootstrap method), built once and
 * cached OUTSIDE the repo in $BOX_TEST_CACHE (default /var/cache/box-test), keyed by a hash of
 * the template, the shared scripts and the build code, so CI rebuilds it only when they change.
 * Parallel test files share one build through a lock. Building needs root and Debian's mirror
 * (~2-4 min the first time on 2 cores; the .deb downloads are cached too).
 */
export interface TestBox {
  boxPath: string;
  sha256: string;
  name: string;
  version: string;
}

export const TEST_BOX_NAME = 'debian-12-minimal' as const;

export function testBoxCacheRoot(): string {
  return path.resolve(process.env.BOX_TEST_CACHE ?? '/var/cache/box-test');
}

/**
 * What shapes a template box's contents: the template, the folders it borrows scripts from
 * (`uses`), the shared scripts, the debootstrap method.
 */
function keySources(template: string, uses: string[]): string[] {
  return [`templates/${template}`, ...uses, 'templates/_scripts', 'src/builder/methods/debootstrap'];
}

async function filesUnder(p: string): Promise<string[]> {
  const info = await stat(p).catch(() => undefined);
  if (!info) return [];
  if (info.isFile()) return [p];
  const entries = (await readdir(p)).sort();
  const nested = await Promise.all(entries.map((e) => filesUnder(path.join(p, e))));
  return nested.flat();
}

export async function testBoxKey(template: string = TEST_BOX_NAME, uses: string[] = []): Promise<string> {
  const hash = createHash('sha256');
  for (const source of keySources(template, uses)) {
    for (const file of await filesUnder(path.join(repoRoot, source))) {
      hash.update(path.relative(repoRoot, file) + '\0');
      hash.update(await readFile(file));
      hash.update('\0');
    }
  }
  return hash.digest('hex').slice(0, 16);
}

/**
 * Returns the cached test box, building it first if its key changed. Builds in-process with the
 * build service (so a stale dist/ cannot matter), with BOX_HOME's cache under the test cache
 * so debootstrap's .deb downloads survive between runs.
 */
export function ensureTestBox(): Promise<TestBox> {
  return ensureTemplateBox(TEST_BOX_NAME);
}

/**
 * The same for another debootstrap template of templates/ (e.g. debian-12-cloud), cached next to
 * the test box under its own name and key; `uses` names the folders whose scripts it borrows.
 */
export async function ensureTemplateBox(template: string, uses: string[] = []): Promise<TestBox> {
  const root = testBoxCacheRoot();
  mkdirSync(root, {recursive: true});
  const key = await testBoxKey(template, uses);
  const dir = path.join(root, `${template}-${key}`);
  const recordFile = path.join(dir, 'test-box.json');
  const release = await lockfile.lock(path.join(root, template), {
    realpath: false,
    stale: 60_000,
    update: 10_000,
    // A build takes minutes; wait up to 30 min for another test file's build.
    retries: {retries: 1800, minTimeout: 1000, maxTimeout: 1000, factor: 1},
  });
  try {
    if (existsSync(recordFile)) {
      const record = JSON.parse(await readFile(recordFile, 'utf8')) as TestBox;
      if (existsSync(record.boxPath)) {
        await utimes(dir, new Date(), new Date()); // "in use": other checkouts leave it alone
        return record;
      }
    }
    // Old keys' boxes are dead weight (~100 MB each); but one used within the day may belong to
    // another checkout running tests right now (a CI rehearsal next to a working tree).
    for (const entry of await readdir(root)) {
      if (!entry.startsWith(`${template}-`) || entry === path.basename(dir)) continue;
      const used = await stat(path.join(root, entry)).then((s) => s.mtimeMs, () => 0);
      if (Date.now() - used > 24 * 3600_000) await rm(path.join(root, entry), {recursive: true, force: true});
    }
    const {buildBox} = await import('../../src/services/build.js');
    const {Ui} = await import('../../src/core/ui.js');
    const {writeJsonAtomic} = await import('../../src/core/fs-json.js');
    process.stderr.write(`[test-box] building ${template} (key ${key}) into ${dir}\n`);
    const result = await buildBox({
      template: template,
      templateDirs: [],
      outputDir: dir,
      cacheDir: path.join(root, 'cache'),
      ui: new Ui({stream: process.stderr, quiet: true}),
      signal: new AbortController().signal,
    });
    const record: TestBox = {boxPath: result.box.path, sha256: result.box.sha256, name: template, version: result.version};
    await writeJsonAtomic(recordFile, record);
    return record;
  } finally {
    await release().catch(() => undefined);
  }
}

/** Installs the test box into the store at `boxHome` through the CLI (`box box add`); needs `npm run build`. */
export async function addTestBox(boxHome: string, testBox?: TestBox): Promise<void> {
  testBox ??= await ensureTestBox();
  const result = await box(['box', 'add', testBox.name, testBox.boxPath, '--box-version', testBox.version], {boxHome, timeoutMs: 300_000});
  if (result.exitCode !== 0) {
    throw new Error(`box box add ${testBox.name} ${testBox.boxPath} failed (exit ${result.exitCode}):\n${result.stdout}\n${result.stderr}`);
  }
}

/**
 * The puppet test box: test/fixtures/templates/debian-12-puppet (method: box from the test box;
 * its `puppet` build provisioner installs Debian's puppet from the mirror and applies a bake
 * manifest), built once with `box build` and cached next to the test box, keyed by that
 * template's files and the test box's key. Needs `npm run build`.
 */
export const PUPPET_BOX_NAME = 'debian-12-puppet';
const PUPPET_TEMPLATE = 'test/fixtures/templates/debian-12-puppet';

export async function ensurePuppetTestBox(): Promise<{boxPath: string; version: string; buildMs?: number}> {
  const root = testBoxCacheRoot();
  mkdirSync(root, {recursive: true});
  const hash = createHash('sha256').update(`${await testBoxKey()}\0`);
  for (const file of await filesUnder(path.join(repoRoot, PUPPET_TEMPLATE))) hash.update(`${path.relative(repoRoot, file)}\0`).update(await readFile(file)).update('\0');
  const dir = path.join(root, `${PUPPET_BOX_NAME}-${hash.digest('hex').slice(0, 16)}`);
  const recordFile = path.join(dir, 'test-box.json');
  const release = await lockfile.lock(path.join(root, PUPPET_BOX_NAME), {realpath: false, stale: 60_000, update: 10_000, retries: {retries: 2400, minTimeout: 1000, maxTimeout: 1000, factor: 1}});
  try {
    if (existsSync(recordFile)) {
      const record = JSON.parse(await readFile(recordFile, 'utf8')) as {boxPath: string; version: string};
      if (existsSync(record.boxPath)) {
        await utimes(dir, new Date(), new Date());
        return {boxPath: record.boxPath, version: record.version};
      }
    }
    for (const entry of await readdir(root)) {
      if (!entry.startsWith(`${PUPPET_BOX_NAME}-`) || entry === path.basename(dir)) continue;
      const used = await stat(path.join(root, entry)).then((s) => s.mtimeMs, () => 0);
      if (Date.now() - used > 24 * 3600_000) await rm(path.join(root, entry), {recursive: true, force: true});
    }
    const home = path.join(root, 'builds', `${PUPPET_BOX_NAME}-home-${process.pid}`);
    await rm(home, {recursive: true, force: true});
    try {
      await addTestBox(home);
      process.stderr.write(`[test-box] building ${PUPPET_BOX_NAME} into ${dir}\n`);
      const t0 = Date.now();
      const result = await box(['build', path.join(repoRoot, PUPPET_TEMPLATE), '--output', dir, '--json'], {boxHome: home, timeoutMs: 40 * 60_000});
      if (result.exitCode !== 0) throw new Error(`box build ${PUPPET_TEMPLATE} failed (exit ${result.exitCode}):\n${result.stdout}\n${String(result.stderr).slice(-6000)}`);
      const json = JSON.parse(String(result.stdout)) as {box: {path: string}; version: string};
      const record = {boxPath: json.box.path, version: json.version, buildMs: Date.now() - t0, log: String(result.stderr).slice(-20_000)};
      const {writeJsonAtomic} = await import('../../src/core/fs-json.js');
      await writeJsonAtomic(recordFile, record);
      return record;
    } finally {
      await rm(home, {recursive: true, force: true});
    }
  } finally {
    await release().catch(() => undefined);
  }
}
