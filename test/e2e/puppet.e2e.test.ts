/**
 * puppet end to end with a REAL guest under TCG and Debian's real puppet in it:
 * - the bake: `box build` of test/fixtures/templates/debian-12-puppet (method: box from the
 *   test box) runs a `puppet` BUILD provisioner, which installs Debian's `puppet` from the
 *   mirror in the build VM (the guest has none) and applies a bake manifest; the box is cached
 *   in /var/cache/box-test like the test box (test/helpers/test-box.ts, ensurePuppetTestBox);
 * - then one project on that box (one 512 MiB guest shared by the cases): `box up` converges
 *   a manifest with a module and a facter fact, without installing puppet again; the bake's
 *   file is there; `box provision` again changes nothing; a bad resource fails with the
 *   provisioner's name, the resource and puppet's exit code; nothing of box's stays in /tmp.
 */
import assert from 'node:assert/strict';
import {existsSync} from 'node:fs';
import {mkdir, readdir, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {box, boxJson, tempDir} from '../helpers/cli.js';
import {takeE2eSlot} from '../helpers/e2e-slot.js';
import {ensurePuppetTestBox, PUPPET_BOX_NAME} from '../helpers/test-box.js';
import {removeE2eProject} from '../helpers/e2e-project.js';
import {qemuProcesses} from '../helpers/qemu-processes.js';

const boxfile = `name: pup
basebox: ${PUPPET_BOX_NAME}
targets:
  qemu: {cpus: 2, memory: 512}
provisioners:
  - type: puppet
    name: site
    manifest_file: site.pp
    module_path: modules
    facter:
      box_role: web
  - type: puppet
    name: broken
    run: never
    manifest_file: broken.pp
`;

const site = `include greeting
file { '/etc/box-puppet.txt':
  ensure  => file,
  content => "role=\${facts['box_role']} greeting=\${greeting::word}\\n",
  mode    => '0644',
}
`;

const greeting = `class greeting {
  $word = 'hello'
  file { '/etc/box-greeting.txt':
    ensure  => file,
    content => "\${word} from the greeting module\\n",
  }
}
`;

const broken = `file { '/box-missing-dir/sub/file.txt':
  ensure  => file,
  content => "never written\\n",
}
`;

/** What box leaves in the guest's /tmp (upload folders, scripts): must be nothing. */
const BOX_TMP = 'ls -A /tmp | grep "^box-" || true';

describe('puppet in a box build and on a real qemu guest', {timeout: 45 * 60_000}, () => {
  let release: () => Promise<void>;
  let home: Awaited<ReturnType<typeof tempDir>>;
  let project: Awaited<ReturnType<typeof tempDir>>;
  let work: Awaited<ReturnType<typeof tempDir>>;
  let puppetBox: Awaited<ReturnType<typeof ensurePuppetTestBox>>;
  const run = (args: string[], timeoutMs = 900_000) => box(args, {cwd: project.dir, boxHome: home.dir, timeoutMs});
  const runJson = (args: string[], timeoutMs = 900_000) => boxJson(args, {cwd: project.dir, boxHome: home.dir, timeoutMs});
  const onGuest = async (command: string): Promise<string> => {
    const r = await run(['ssh', '-c', command], 60_000);
    assert.equal(r.exitCode, 0, `${command}\n${r.stdout}\n${r.stderr}`);
    return String(r.stdout).trim(); // box ssh -c drops the last line break
  };

  before(async () => {
    release = await takeE2eSlot();
    const t0 = Date.now();
    puppetBox = await ensurePuppetTestBox();
    console.log(`# puppet test box: ${puppetBox.buildMs === undefined ? 'from the cache' : `baked in ${(puppetBox.buildMs / 1000).toFixed(0)} s`} (${((Date.now() - t0) / 1000).toFixed(0)} s in all)`);
    home = await tempDir('box-e2e-home-');
    project = await tempDir('box-e2e-puppet-');
    work = await tempDir('box-e2e-puppet-work-');
    const add = await box(['box', 'add', PUPPET_BOX_NAME, puppetBox.boxPath, '--box-version', puppetBox.version], {boxHome: home.dir, timeoutMs: 300_000});
    assert.equal(add.exitCode, 0, String(add.stderr));
    await writeFile(path.join(project.dir, 'Boxfile'), boxfile);
    await mkdir(path.join(project.dir, 'manifests'));
    await mkdir(path.join(project.dir, 'modules', 'greeting', 'manifests'), {recursive: true});
    await writeFile(path.join(project.dir, 'manifests', 'site.pp'), site);
    await writeFile(path.join(project.dir, 'manifests', 'broken.pp'), broken);
    await writeFile(path.join(project.dir, 'modules', 'greeting', 'manifests', 'init.pp'), greeting);
  });

  after(async () => {
    if (work) for (const pid of qemuProcesses(work.dir)) process.kill(pid, 'SIGKILL');
    await work?.cleanup();
    await removeE2eProject(project, home);
    await release?.();
  });

  test('the baked box carries puppet and the file its build provisioner wrote', async () => {
    const {result} = await runJson(['up']);
    assert.equal(result.exitCode, 0, `${result.stderr}\n${result.stdout}`);
    const stderr = String(result.stderr);
    // The box was baked with puppet: up applies the manifest without installing it again.
    assert.doesNotMatch(stderr, /installing puppet/);
    assert.equal(await onGuest('cat /etc/box-baked'), 'baked by puppet during box build');
    assert.match(await onGuest('puppet --version'), /^\d+\.\d+/);
  });

  test('box up converged the manifest, its module and the facter fact', async () => {
    assert.equal(await onGuest('cat /etc/box-puppet.txt'), 'role=web greeting=hello');
    assert.equal(await onGuest('cat /etc/box-greeting.txt'), 'hello from the greeting module');
    assert.equal(await onGuest(BOX_TMP), '', 'nothing of box\'s left in /tmp after a success');
  });

  test('box provision again is idempotent: puppet changes nothing and exits 0', async () => {
    const {result} = await runJson(['provision', '--provision-with', 'site']);
    assert.equal(result.exitCode, 0, `${result.stderr}\n${result.stdout}`);
    const stderr = String(result.stderr);
    assert.match(stderr, /Applied catalog/);
    // A change is a "Notice: /Stage[main]/..." line: none this time.
    assert.doesNotMatch(stderr, /Notice: \/Stage\[/);
  });

  test('a bad resource fails box provision with the provisioner, the resource and puppet\'s exit code', async () => {
    const {result, json} = await runJson(['provision', '--provision-with', 'broken']);
    assert.equal(result.exitCode, 1, String(result.stderr));
    assert.equal(json.error.code, 'ERR_PROVISION_FAILED');
    assert.match(json.error.message, /^Provisioner "broken" \(puppet\) failed at resource File\[\/box-missing-dir\/sub\/file\.txt\]: exit code [46]\./);
    assert.ok([4, 6].includes(json.error.details.exitCode), JSON.stringify(json.error.details));
    assert.equal(await onGuest(BOX_TMP), '', 'nothing of box\'s left in /tmp after a failure');
  });

  test('a failing build provisioner fails box build with its name, resource and exit code, and leaves no VM, work folder or box', async () => {
    const tpl = path.join(work.dir, 'bad-bake');
    const buildTmp = path.join(work.dir, 'tmp');
    const out = path.join(work.dir, 'out');
    await mkdir(tpl);
    await mkdir(buildTmp);
    await writeFile(path.join(tpl, 'template.yaml'), [
      'method: box', `source: ${PUPPET_BOX_NAME}`, 'memory: 512', 'ssh: {timeout: 10m}',
      'provisioners:', `  - {type: puppet, name: bad-bake, manifests_path: ${path.join(project.dir, 'manifests')}, manifest_file: broken.pp}`,
    ].join('\n') + '\n');
    const t0 = Date.now();
    const {result, json} = await boxJson(['build', tpl, '--output', out], {boxHome: home.dir, env: {TMPDIR: buildTmp}, timeoutMs: 15 * 60_000});
    console.log(`# failing build provisioner: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    assert.equal(result.exitCode, 1, String(result.stderr));
    assert.equal(json.error.code, 'ERR_PROVISION_FAILED');
    assert.match(json.error.message, /^Provisioner "bad-bake" \(puppet\) failed at resource File\[\/box-missing-dir\/sub\/file\.txt\]: exit code [46]\./);
    // The output streamed with the template's name as prefix.
    assert.match(String(result.stderr), /bad-bake.*Error: .*File\[\/box-missing-dir\/sub\/file\.txt\]/);
    assert.deepEqual(qemuProcesses(work.dir), [], 'no build VM left');
    assert.deepEqual(await readdir(buildTmp), [], 'no work folder or overlay left');
    const left = existsSync(out) ? (await readdir(out)).filter((f) => f.endsWith('.box') || f.endsWith('.partial') || f === 'build.json') : [];
    assert.deepEqual(left, [], 'no box');
  });
});
