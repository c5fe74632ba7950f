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
const heavyPackages = ['@aws-sdk', '@smithy', 'ssh2', 'tar-stream', 'handlebars', 'got', 'cli-progress', 'execa', 'zod-to-json-schema', 'fast-xml-parser', 'semver'];
// Providers load behind the target registry: a qemu project never loads the others'.
const otherProviders = ['dist/providers/aws/aws-provider.js', 'dist/providers/virtualbox/virtualbox-provider.js'];

/** The package a loaded file belongs to ("@aws-sdk/client-ec2", "ssh2"), or undefined for box's own and Node's. */
function packageOf(file: string): string | undefined {
  const unix = file.replaceAll('\\', '/');
  const at = unix.lastIndexOf('node_modules/');
  if (at === -1) return undefined;
  const [first, second] = unix.slice(at + 'node_modules/'.length).split('/');
  return first.startsWith('@') ? `${first}/${second}` : first;
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
  async function loaded(args: string[], name: string): Promise<{stdout: string; exitCode?: number; files: string[]}> {
    const record = path.join(home.dir, `${name}.modules`);
    await writeFile(record, '');
    const result = await box(args, {cwd: project.dir, boxHome: home.dir, env: {...preloadEnv(path.join(repoRoot, 'test', 'helpers', 'record-modules.mjs')), BOX_RECORD_MODULES: record}});
    const files = [...new Set((await readFile(record, 'utf8')).split('\n').filter(Boolean))];
    return {stdout: String(result.stdout), exitCode: result.exitCode, files};
  }

  function heavyIn(files: string[]): string[] {
    const packages = files.map(packageOf).filter((p): p is string => p !== undefined);
    // '@aws-sdk' stands for every package of that scope.
    return heavyPackages.filter((heavy) => packages.some((p) => p === heavy || p.startsWith(`${heavy}/`)));
  }

  test('the recorder sees what a command loads (status reads the Boxfile with yaml and checks it with zod)', async () => {
    const {files} = await loaded(['status'], 'recorder');
    const packages = new Set(files.map(packageOf));
    for (const expected of ['@oclif/core', 'yaml', 'zod']) assert.ok(packages.has(expected), `${expected} not recorded; recorded: ${[...packages].join(', ')}`);
    assert.ok(files.some((f) => f.endsWith(path.join('dist', 'commands', 'status.js'))), 'the status command module was not recorded');
  });

  test('box status with no machine loads no heavy package and no other target\'s provider', async () => {
    const {stdout, exitCode, files} = await loaded(['status'], 'status');
    assert.equal(exitCode, 0);
    assert.match(stdout, /default\s+not-created\s+qemu/);
    assert.deepEqual(heavyIn(files), [], 'heavy packages loaded by box status');
    const normalized = files.map((f) => f.replaceAll('\\', '/'));
    assert.deepEqual(otherProviders.filter((p) => normalized.some((f) => f.endsWith(p))), []);
  });

  test('box status --json loads no heavy package either', async () => {
    const {exitCode, files} = await loaded(['status', '--json'], 'status-json');
    assert.equal(exitCode, 0);
    assert.deepEqual(heavyIn(files), []);
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
      const record = path.join(home.dir, 'ssh.modules');
      await writeFile(record, '');
      const result = await box(['ssh', '-c', 'echo from-sshd; exit 3'], {cwd: sshProject.dir, boxHome: home.dir, env: {...preloadEnv(path.join(repoRoot, 'test', 'helpers', 'record-modules.mjs')), BOX_RECORD_MODULES: record}});
      assert.equal(result.exitCode, 3, String(result.stderr));
      assert.equal(String(result.stdout), 'from-sshd');
      const files = [...new Set((await readFile(record, 'utf8')).split('\n').filter(Boolean))];
      assert.ok(files.some((f) => f.endsWith(path.join('dist', 'commands', 'ssh.js'))), 'the ssh command module was not recorded');
      assert.deepEqual(heavyIn(files), [], 'heavy packages loaded by box ssh -c');
    } finally {
      await machine.stop();
      await sshProject.cleanup();
    }
  });

  test('box --help loads no command module and no heavy package', async () => {
    const {stdout, exitCode, files} = await loaded(['--help'], 'help');
    assert.equal(exitCode, 0);
    assert.match(stdout, /COMMANDS/);
    assert.deepEqual(files.filter((f) => f.includes(`${path.sep}dist${path.sep}commands${path.sep}`)), [], 'command modules loaded by box --help');
    assert.deepEqual(heavyIn(files), []);
  });
});
