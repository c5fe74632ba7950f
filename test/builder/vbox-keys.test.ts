import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {readFile} from 'node:fs/promises';
import path from 'node:path';
import {parseBootCommand} from '../../src/builder/boot-command.js';
import {typeOverVBoxManage} from '../../src/builder/vbox-keys.js';
import {repoRoot, tempDir} from '../helpers/cli.js';

const fake = path.join(repoRoot, 'test', 'fixtures', 'installer-iso', 'bin', 'fake-vboxmanage');

describe('typing boot commands into VirtualBox', () => {
  let tmp: {dir: string; cleanup: () => Promise<void>};
  const saved = process.env.FAKE_VBOX_LOG;
  before(async () => {
    tmp = await tempDir('box-vbox-keys-');
  });
  after(async () => {
    process.env.FAKE_VBOX_LOG = saved;
    await tmp.cleanup();
  });

  test('keys become keyboardputscancode calls with make/break codes, split at waits', async () => {
    process.env.FAKE_VBOX_LOG = path.join(tmp.dir, 'calls-1.log');
    const t0 = Date.now();
    const calls = await typeOverVBoxManage('build-vm', parseBootCommand('<esc><wait300ms>Hi<enter>'), {keyIntervalMs: 0, vboxmanage: fake});
    assert.ok(Date.now() - t0 >= 300, 'the wait was honoured');
    assert.equal(calls, 2);
    assert.deepEqual((await readFile(process.env.FAKE_VBOX_LOG, 'utf8')).trim().split('\n'), [
      'controlvm build-vm keyboardputscancode 01 81',
      'controlvm build-vm keyboardputscancode 2a 23 a3 aa 17 97 1c 9c',
    ]);
  });

  test('long text is sent in batches of at most 32 scancodes', async () => {
    process.env.FAKE_VBOX_LOG = path.join(tmp.dir, 'calls-2.log');
    await typeOverVBoxManage('build-vm', parseBootCommand('auto url=http://10.0.2.2:8080/preseed.cfg'), {keyIntervalMs: 0, vboxmanage: fake});
    const lines = (await readFile(process.env.FAKE_VBOX_LOG, 'utf8')).trim().split('\n');
    assert.ok(lines.length > 1);
    for (const line of lines) assert.ok(line.split(' ').length - 3 <= 32, line);
  });

  test('a VBoxManage failure is an error quoting its message', async () => {
    process.env.FAKE_VBOX_LOG = path.join(tmp.dir, 'calls-3.log');
    await assert.rejects(typeOverVBoxManage('missing-vm', parseBootCommand('a'), {keyIntervalMs: 0, vboxmanage: fake}), (error: Error & {code?: string}) => {
      assert.equal(error.code, 'ERR_VBOXMANAGE');
      assert.match(error.message, /Could not find a registered machine named 'missing-vm'/);
      return true;
    });
  });
});
