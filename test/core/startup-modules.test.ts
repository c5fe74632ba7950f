import assert from 'node:assert/strict';
import {readFile, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {box, repoRoot, tempDir} from '../helpers/cli.js';
import {preloadEnv} from '../helpers/preload.js';
import {runningMachine} from '../helpers/running-machine.js';

// What `box` loads to answer its quickest commands (docs/architecture.md, "Start-up"). Each
// package here costs tens of milliseconds to load and is used only by commands that connect,
// download, unpack, render or call the cloud: imported at the point of use, never at start-up.
// semver: only @oclif/core's check of its own `engines`, which bin/run.js skips.
const heavyPackages = ['@aws-sdk', '@smithy', 'ssh2', 'tar-stream', 'handlebars', 'got', 'cli-progress', 'execa', 'zod-to-json-schema', 'fast-xml-parser', 'semver', 'typescript'];
// Providers load behind the target registry: a qemu project never loads the others'.
const otherProviders = ['src/providers/aws/aws-provider.ts', 'src/providers/virtualbox/virtualbox-provider.ts'];

/** The package a file belongs to ("@aws-sdk/client-ec2", "ssh2"), or undefined for box's own and Node's. */
function packageOf(file: string): string | undefined {
  const unix = file.replaceAll('\\', '/');
  const at = unix.lastIndexOf('node_modules/');
  if (at === -1) return undefined;
  const [first, second] = unix.slice(at + 'node_modules/'.length).split('/');
  return first.startsWith('@') ? `${first}/${second}` : first;
}

/**
 * dist/ is esbuild's bundle (scripts/build.mjs): a package inlined into a chunk is no longer a
 * node_modules path when it loads. The build's metafile (dist/meta.json) says which source
 * files went into each output file; this maps what a command loaded back to them.
 */
type Metafile = {outputs: Record<string, {inputs: Record<string, unknown>}>};
let metafile: Metafile | undefined;
async function bundleInputs(): Promise<Metafile> {
  metafile ??= JSON.parse(await readFile(path.join(repoRoot, 'dist', 'meta.json'), 'utf8')) as Metafile;
  return metafile;
}

/** What a command loaded: node_modules files as they are, each dist/ file as the inputs esbuild put in it. */
interface Loaded {
  /** Packages, from node_modules files and from the bundle's inputs. */
  packages: string[];
  /** box's own source files (src/...) inside the dist/ files loaded. */
  sources: string[];
  /** The dist/ files loaded (repo-relative). */
  dist: string[];
}

async function whatLoaded(files: string[]): Promise<Loaded> {
  const meta = await bundleInputs();
  const packages = new Set<string>();
  const sources = new Set<string>();
  const dist: string[] = [];
  for (const file of files) {
    const relative = path.relative(repoRoot, file).replaceAll('\\', '/');
    if (relative.startsWith('dist/')) {
      dist.push(relative);
      const output = meta.outputs[relative];
      assert.ok(output, `${relative} was loaded but is not in dist/meta.json: a stale build? (npm run build)`);
      for (const input of Object.keys(output.inputs)) {
        const pkg = packageOf(input);
        if (pkg) packages.add(pkg);
        else sources.add(input);
      }
    } else {
      const pkg = packageOf(file);
      if (pkg) packages.add(pkg);
    }
  }
  return {packages: [...packages], sources: [...sources], dist};
}

function heavyIn(loaded: Loaded): string[] {
  // '@aws-sdk' stands for every package of that scope.
  return heavyPackages.filter((heavy) => loaded.packages.some((p) => p === heavy || p.startsWith(`${heavy}/`)));
}

describe('start-up loads only what the command uses', () => {
  let project: {dir: string; cleanup: () => Promise<void>};
  let home: {dir: string; cleanup: () => Promise<void>};
  before(async () => {
    project = await tempDir('box-startup-project-');
    home = await tempDir('box-startup-home-');
    await writeFile(path.join(project.dir, 'Boxfile'), 'basebox: debian-12-minimal\ntarget: qemu\n');
  });
  after(async () => {
    await project.cleanup();
    await home.cleanup();
  });

  /** Runs box with the recording preload; returns its result and the files it loaded. */
  async function loaded(args: string[], name: string, cwd = project.dir): Promise<{stdout: string; stderr: string; exitCode?: number; files: string[]} & Loaded> {
    const record = path.join(home.dir, `${name}.modules`);
    await writeFile(record, '');
    const result = await box(args, {cwd, boxHome: home.dir, env: {...preloadEnv(path.join(repoRoot, 'test', 'helpers', 'record-modules.mjs')), BOX_RECORD_MODULES: record}});
    const files = [...new Set((await readFile(record, 'utf8')).split('\n').filter(Boolean))];
    return {stdout: String(result.stdout), stderr: String(result.stderr), exitCode: result.exitCode, files, ...await whatLoaded(files)};
  }

  test('the recorder sees what a command loads, through the bundle (status reads the Boxfile with yaml and checks it with zod)', async () => {
    const status = await loaded(['status'], 'recorder');
    for (const expected of ['@oclif/core', 'yaml', 'zod']) assert.ok(status.packages.includes(expected), `${expected} not recorded; recorded: ${status.packages.join(', ')}`);
    assert.ok(status.dist.includes('dist/commands/status.js'), 'the status command module was not recorded');
    for (const expected of ['src/commands/status.ts', 'src/boxfile/load.ts', 'src/providers/qemu/descriptor.ts']) assert.ok(status.sources.includes(expected), `${expected} not in what box status loaded`);
    // The bundle is what makes start-up cheap: a command is a few dozen files, not hundreds.
    assert.ok(status.files.length < 120, `box status loaded ${status.files.length} files`);
    // A package kept out of the bundle (scripts/build.mjs) is seen as node_modules files: `box
    // doctor` runs the host's tools with execa, so the check below can fail.
    const doctor = await loaded(['doctor', '--json'], 'doctor');
    assert.ok(doctor.packages.includes('execa'), `box doctor loaded ${doctor.packages.join(', ')}`);
    assert.ok(heavyIn(doctor).includes('execa'), 'heavyIn misses a heavy package loaded from node_modules');
  });

  test('box status with no machine loads no heavy package and no other target\'s provider', async () => {
    const status = await loaded(['status'], 'status');
    assert.equal(status.exitCode, 0);
    assert.match(status.stdout, /default\s+not-created\s+qemu/);
    assert.deepEqual(heavyIn(status), [], 'heavy packages loaded by box status');
    assert.deepEqual(otherProviders.filter((p) => status.sources.includes(p)), []);
  });

  test('box status --json loads no heavy package either', async () => {
    const status = await loaded(['status', '--json'], 'status-json');
    assert.equal(status.exitCode, 0);
    assert.deepEqual(heavyIn(status), []);
    assert.deepEqual(otherProviders.filter((p) => status.sources.includes(p)), []);
  });

  test('box --version loads neither oclif nor any command, and prints what oclif printed', async () => {
    const {stdout, exitCode, files} = await loaded(['--version'], 'version');
    assert.equal(exitCode, 0);
    const pkg = JSON.parse(await readFile(path.join(repoRoot, 'package.json'), 'utf8'));
    assert.equal(stdout, `${pkg.name}/${pkg.version} ${process.platform}-${process.arch === 'ia32' ? 'x86' : process.arch} node-${process.version}`);
    assert.deepEqual(files.map(packageOf).filter(Boolean), [], 'packages loaded by box --version');
    assert.deepEqual(files.filter((f) => f.includes(`${path.sep}dist${path.sep}`)), [], 'box modules loaded by box --version');
  });

  // `box ssh -c` is timed against plain OpenSSH (issue 15: within 10 %); what it loads before ssh
  // starts is what it adds. A running machine without a guest: QEMU -machine none + a real sshd.
  test('box ssh -c on a running machine runs OpenSSH having loaded no heavy package (execa included)', async () => {
    const sshProject = await tempDir('box-startup-ssh-');
    const machine = await runningMachine(sshProject.dir);
    try {
      const ssh = await loaded(['ssh', '-c', 'echo from-sshd; exit 3'], 'ssh', sshProject.dir);
      assert.equal(ssh.exitCode, 3, ssh.stderr);
      assert.equal(ssh.stdout, 'from-sshd');
      assert.ok(ssh.dist.includes('dist/commands/ssh.js'), 'the ssh command module was not recorded');
      assert.deepEqual(heavyIn(ssh), [], 'heavy packages loaded by box ssh -c');
      assert.deepEqual(otherProviders.filter((p) => ssh.sources.includes(p)), []);
    } finally {
      await machine.stop();
      await sshProject.cleanup();
    }
  });

  test('box --help loads no command module and no heavy package', async () => {
    const help = await loaded(['--help'], 'help');
    assert.equal(help.exitCode, 0);
    assert.match(help.stdout, /COMMANDS/);
    assert.deepEqual(help.sources.filter((f) => f.startsWith('src/commands/')), [], 'command modules loaded by box --help');
    assert.deepEqual(heavyIn(help), []);
  });
});
