/**
 * A full disk: BOX_HOME on a small tmpfs (mounted by the test, always unmounted) while
 * `box box add` installs a box from a file and over HTTP. box must say that the file system is
 * full (not that the archive is broken), and leave nothing: no half-installed box, no lock, and
 * no partial download once `box box prune` ran. (A full store during `box build --add` is in
 * build.e2e.test.ts.)
 */
import assert from 'node:assert/strict';
import {after, before, describe, test} from 'node:test';
import {goodBox, startServer, type TestServer} from '../fixtures/boxes/make-box.js';
import {Sandbox, UNEXPECTED, describeRun, withTmpfs} from './harness.js';

const EMPTY_STORE = [/\/home\/cache(\/(locks|downloads))?$/, /\/home\/boxes$/];

function assertDiskFull(message: string, home: string): void {
  assert.doesNotMatch(message, /not a valid box archive|download is complete/, `a full disk is not a broken archive (issue 10, 9c):\n${message}`);
  assert.match(message, /full|no space|no room/i, message);
  assert.ok(message.includes(home), `it names BOX_HOME's file system:\n${message}`);
  assert.match(message, /\d+(\.\d+)? ?(KiB|MiB|MB|GiB|GB)/, `it says how much is needed and free (issue 10, 9c):\n${message}`);
}

describe('a full disk under BOX_HOME', {timeout: 5 * 60_000}, () => {
  let server: TestServer;
  let box: Buffer;
  const sandboxes: Sandbox[] = [];

  before(async () => {
    box = await goodBox({gzip: false, imageBytes: 40 * 1024 * 1024, seed: 'full-disk'});
    server = await startServer({'/full.box': {body: box}});
  });
  after(async () => {
    await server?.close();
    for (const s of sandboxes) await s.dispose();
  });

  test('box box add from a file onto a full BOX_HOME says the file system is full; nothing is left', async () => {
    const sandbox = await Sandbox.create('disk-file');
    sandboxes.push(sandbox);
    const file = sandbox.write('full.box', '');
    const {writeFile} = await import('node:fs/promises');
    await writeFile(file, box);
    await withTmpfs(sandbox.home, '24m', async () => {
      sandbox.mark();
      const add = await sandbox.json(['box', 'add', 'full-disk', file, '--box-version', '1.0.0']);
      assert.equal(add.exitCode, 1, describeRun(add));
      assert.doesNotMatch(add.stdout + add.stderr, UNEXPECTED);
      assertDiskFull(add.json.error.message, sandbox.home);
      await sandbox.assertClean('box add from a file on a full disk', {allow: EMPTY_STORE});
    });
  });

  test('box box add over HTTP onto a full BOX_HOME says so, and box box prune leaves no partial download (issue 10, D3)', async () => {
    const sandbox = await Sandbox.create('disk-http');
    sandboxes.push(sandbox);
    await withTmpfs(sandbox.home, '24m', async () => {
      sandbox.mark();
      const add = await sandbox.json(['box', 'add', 'full-disk', `${server.url}/full.box`, '--box-version', '1.0.0']);
      assert.equal(add.exitCode, 1, describeRun(add));
      assert.doesNotMatch(add.stdout + add.stderr, UNEXPECTED);
      assertDiskFull(add.json.error.message, sandbox.home);
      const prune = await sandbox.json(['box', 'prune']);
      assert.equal(prune.exitCode, 0, describeRun(prune));
      await sandbox.assertClean('box add over HTTP on a full disk, then prune', {allow: EMPTY_STORE});
    });
  });
});
