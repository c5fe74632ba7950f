import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {existsSync} from 'node:fs';
import {mkdir, readdir, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {box, boxJson, tempDir} from '../../helpers/cli.js';
import {goodBox, sha256, writeBox} from '../../fixtures/boxes/make-box.js';

// The four `box box` commands through the built CLI (bin/run.js): --json shapes, exit codes,
// and the in-use protection driven by the real machine index file.
let work: {dir: string; cleanup: () => Promise<void>};
let boxHome: string;
let boxFile: string;
let boxSha: string;

before(async () => {
  work = await tempDir('box-cmd-');
  boxHome = path.join(work.dir, 'home');
  const data = await goodBox({gzip: true});
  boxSha = sha256(data);
  boxFile = await writeBox(path.join(work.dir, 'test.box'), data);
});

after(async () => {
  await work.cleanup();
});

const opts = (): {boxHome: string; cwd: string} => ({boxHome, cwd: work.dir});

describe('box box add|list|remove|prune', () => {
  test('list on an empty store prints an empty list and a hint on stderr', async () => {
    const {result, json} = await boxJson(['box', 'list'], opts());
    assert.equal(result.exitCode, 0);
    assert.deepEqual(json, {boxes: []});
    const plain = await box(['box', 'list'], opts());
    assert.equal(String(plain.stdout), '');
    assert.match(String(plain.stderr), /No boxes installed\. Add one with `box box add NAME FILE\|URL`/);
  });

  test('add --json prints the installed box (name, version, provider, dir, size, checksum)', async () => {
    for (const version of ['1.0.0', '1.1.0', '2.0.0']) {
      const {result, json} = await boxJson(['box', 'add', 'acme/web', boxFile, '--box-version', version, '--checksum', boxSha], opts());
      assert.equal(result.exitCode, 0, String(result.stderr));
      assert.equal(json.name, 'acme/web');
      assert.equal(json.version, version);
      assert.equal(json.provider, 'libvirt');
      assert.equal(json.dir, path.join(boxHome, 'boxes', 'acme-VAGRANTSLASH-web', version, 'libvirt'));
      assert.equal(typeof json.size, 'number');
      assert.ok(json.size > 0);
      assert.deepEqual(json.checksum, {type: 'sha256', value: boxSha});
      assert.equal(json.sha256, boxSha);
    }
  });

  test('add of a box file without a name is a usage error (exit 2) with a hint', async () => {
    const {result, json} = await boxJson(['box', 'add', boxFile], opts());
    assert.equal(result.exitCode, 2);
    assert.equal(json.error.code, 'ERR_BOX_NAME');
    assert.match(json.error.hint, /box box add NAME/);
  });

  test('add with a checksum of the wrong length for its type is a usage error before anything is read', async () => {
    const {result, json} = await boxJson(['box', 'add', 'acme/short', path.join(work.dir, 'does-not-exist.box'), '--checksum', 'abc123'], opts());
    assert.equal(result.exitCode, 2);
    assert.equal(json.error.code, 'ERR_USAGE');
    assert.match(json.error.message, /not a sha256 checksum: expected 64 hex digits, got 6/);
    const md5 = await boxJson(['box', 'add', 'acme/short', path.join(work.dir, 'does-not-exist.box'), '--checksum-type', 'md5', '--checksum', 'a'.repeat(64)], opts());
    assert.match(md5.json.error.message, /not a md5 checksum: expected 32 hex digits/);
  });

  test('add of a Vagrant Cloud style name explains that a file, catalog or URL is needed', async () => {
    const {result, json} = await boxJson(['box', 'add', 'hashicorp/bionic64'], opts());
    assert.equal(result.exitCode, 2);
    assert.equal(json.error.code, 'ERR_BOX_NOT_FOUND');
    assert.match(json.error.hint, /does not look boxes up by name on Vagrant Cloud/);
  });

  test('add of an installed box fails (exit 1) and says to use --force', async () => {
    const result = await box(['box', 'add', 'acme/web', boxFile, '--box-version', '2.0.0'], opts());
    assert.equal(result.exitCode, 1);
    assert.match(String(result.stderr), /Box acme\/web 2\.0\.0 \(libvirt\) is already installed/);
    assert.match(String(result.stderr), /Hint: Add --force/);
    assert.equal(String(result.stdout), '');
  });

  test('add --force refuses to replace a box a machine is built on, and replaces an unused one', async () => {
    await writeFile(path.join(boxHome, 'machines.json'), JSON.stringify([
      {project: 'p', projectRoot: '/srv/p', machine: 'web', target: 'qemu', box: {name: 'acme/web', version: '2.0.0', provider: 'libvirt'}, updatedAt: new Date().toISOString()},
    ]));
    try {
      const {result, json} = await boxJson(['box', 'add', 'acme/web', boxFile, '--box-version', '2.0.0', '--force'], opts());
      assert.equal(result.exitCode, 1);
      assert.equal(json.error.code, 'ERR_BOX_IN_USE');
      assert.match(json.error.message, /used by p\/web: replacing it would break their disks/);
      assert.deepEqual((await readdir(path.join(boxHome, 'boxes', 'acme-VAGRANTSLASH-web'))).filter((e) => e.startsWith('.tmp')), [], 'the extracted copy is gone');
    } finally {
      await writeFile(path.join(boxHome, 'machines.json'), '[]');
    }
    const replaced = await box(['box', 'add', 'acme/web', boxFile, '--box-version', '2.0.0', '--force'], opts());
    assert.equal(replaced.exitCode, 0, String(replaced.stderr));
  });

  test('list --json lists every box with its size, and the table shows them', async () => {
    const {result, json} = await boxJson(['box', 'list'], opts());
    assert.equal(result.exitCode, 0);
    assert.deepEqual(json.boxes.map((b: {version: string}) => b.version), ['1.0.0', '1.1.0', '2.0.0']);
    for (const b of json.boxes) {
      assert.deepEqual(Object.keys(b).sort(), ['dir', 'name', 'provider', 'size', 'version']);
      assert.ok(b.size > 0);
    }
    const table = await box(['box', 'list'], opts());
    assert.match(String(table.stdout), /^NAME\s+VERSION\s+PROVIDER\s+SIZE\nacme\/web\s+1\.0\.0\s+libvirt\s+\d/);
  });

  test('remove refuses a box a machine uses, and --force removes it anyway', async () => {
    await writeFile(path.join(boxHome, 'machines.json'), JSON.stringify([
      {project: 'p', projectRoot: '/srv/p', machine: 'web', target: 'qemu', box: {name: 'acme/web', version: '1.0.0', provider: 'libvirt'}, updatedAt: new Date().toISOString()},
      {project: 'p', projectRoot: '/srv/p', machine: 'db', target: 'qemu', box: {name: 'acme/web', version: '1.1.0', provider: 'libvirt'}, updatedAt: new Date().toISOString()},
    ]));
    const {result, json} = await boxJson(['box', 'remove', 'acme/web', '--box-version', '1.1.0'], opts());
    assert.equal(result.exitCode, 1);
    assert.equal(json.error.code, 'ERR_BOX_IN_USE');
    assert.match(json.error.message, /used by db \(\/srv\/p\)/);
    assert.deepEqual(json.error.details.machines, [{machine: 'db', projectRoot: '/srv/p'}]);
    assert.ok(existsSync(path.join(boxHome, 'boxes', 'acme-VAGRANTSLASH-web', '1.1.0', 'libvirt')));

    const forced = await boxJson(['box', 'remove', 'acme/web', '--box-version', '1.1.0', '--force'], opts());
    assert.equal(forced.result.exitCode, 0);
    assert.deepEqual(forced.json.removed.map((b: {version: string}) => b.version), ['1.1.0']);
    assert.deepEqual(Object.keys(forced.json.removed[0]).sort(), ['dir', 'name', 'provider', 'size', 'version']);
    assert.equal(existsSync(path.join(boxHome, 'boxes', 'acme-VAGRANTSLASH-web', '1.1.0')), false);
  });

  test('remove with several matches is a usage error listing them', async () => {
    const {result, json} = await boxJson(['box', 'remove', 'acme/web'], opts());
    assert.equal(result.exitCode, 2);
    assert.equal(json.error.code, 'ERR_BOX_AMBIGUOUS');
    assert.match(json.error.message, /1\.0\.0 \(libvirt\), 2\.0\.0 \(libvirt\)/);
  });

  test('remove of a box that is not installed fails naming what is installed', async () => {
    const {result, json} = await boxJson(['box', 'remove', 'acme/web', '--box-version', '9'], opts());
    assert.equal(result.exitCode, 1);
    assert.equal(json.error.code, 'ERR_BOX_NOT_FOUND');
    assert.match(json.error.hint, /Installed: 1\.0\.0 \(libvirt\), 2\.0\.0 \(libvirt\)/);
  });

  test('prune --dry-run reports, prune keeps the newest and in-use versions', async () => {
    await box(['box', 'add', 'acme/web', boxFile, '--box-version', '0.5'], opts());
    await box(['box', 'add', 'solo', boxFile], opts());
    const dry = await boxJson(['box', 'prune', '--dry-run'], opts());
    assert.equal(dry.result.exitCode, 0);
    assert.equal(dry.json.dryRun, true);
    assert.deepEqual(dry.json.removed.map((b: {name: string; version: string}) => `${b.name}@${b.version}`), ['acme/web@0.5']);
    assert.deepEqual(dry.json.inUse.map((b: {version: string; machines: string[]}) => [b.version, b.machines]), [['1.0.0', ['web (/srv/p)']]]);
    assert.deepEqual(dry.json.kept.map((b: {name: string; version: string}) => `${b.name}@${b.version}`).sort(), ['acme/web@2.0.0', 'solo@0']);
    assert.ok(dry.json.freed > 0);
    assert.ok(existsSync(path.join(boxHome, 'boxes', 'acme-VAGRANTSLASH-web', '0.5')), 'dry run removes nothing');

    const real = await boxJson(['box', 'prune'], opts());
    assert.equal(real.json.dryRun, false);
    assert.equal(real.json.removed.length, 1);
    const list = await boxJson(['box', 'list'], opts());
    assert.deepEqual(list.json.boxes.map((b: {name: string; version: string}) => `${b.name}@${b.version}`), ['acme/web@1.0.0', 'acme/web@2.0.0', 'solo@0']);
  });

  test('list escapes control characters in folder names of the store (made by hand or another tool)', async () => {
    const home = path.join(work.dir, 'home-esc');
    const dir = path.join(home, 'boxes', 'evil\u001b[31mred\u001b]0;title\u0007', '1.0', 'libvirt');
    await mkdir(dir, {recursive: true});
    await writeFile(path.join(dir, 'metadata.json'), '{"provider": "libvirt"}');
    const table = await box(['box', 'list'], {boxHome: home, cwd: work.dir});
    assert.equal(table.exitCode, 0, String(table.stderr));
    assert.doesNotMatch(String(table.stdout), /[\u0000-\u0008\u000b-\u001f\u007f]/, 'no raw control character on stdout');
    assert.match(String(table.stdout), /evil\\x1b\[31mred\\x1b\]0;title\\x07\s+1\.0\s+libvirt/);
    const {json} = await boxJson(['box', 'list'], {boxHome: home, cwd: work.dir});
    assert.equal(json.boxes[0].name, 'evil\u001b[31mred\u001b]0;title\u0007', 'JSON keeps the exact name (JSON escapes it)');
  });
});
