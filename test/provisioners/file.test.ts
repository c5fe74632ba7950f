import assert from 'node:assert/strict';
import {mkdirSync, readFileSync, statSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {fileProvisioner} from '../../src/provisioners/file.js';
import {provisionFixture, type ProvisionFixture} from './context.js';

describe('file provisioner', () => {
  let f: ProvisionFixture;

  before(async () => {
    f = await provisionFixture();
  });

  after(async () => {
    await f?.dispose();
  });

  test('copies a file, resolved against the project root, to its destination', async () => {
    writeFileSync(path.join(f.projectRoot, 'motd'), 'welcome\n', {mode: 0o640});
    const destination = path.join(f.sshd.dir, 'guest', 'etc', 'motd');
    await fileProvisioner.provision(f.context(), {type: 'file', source: 'motd', destination});
    assert.equal(readFileSync(destination, 'utf8'), 'welcome\n');
    assert.equal(statSync(destination).mode & 0o777, 0o640);
  });

  test('copies a folder recursively', async () => {
    mkdirSync(path.join(f.projectRoot, 'conf', 'nested'), {recursive: true});
    writeFileSync(path.join(f.projectRoot, 'conf', 'a.conf'), 'a\n');
    writeFileSync(path.join(f.projectRoot, 'conf', 'nested', 'b.sh'), 'echo b\n', {mode: 0o755});
    const destination = path.join(f.sshd.dir, 'guest', 'opt', 'conf');
    await fileProvisioner.provision(f.context(), {type: 'file', source: 'conf', destination});
    assert.equal(readFileSync(path.join(destination, 'a.conf'), 'utf8'), 'a\n');
    assert.equal(readFileSync(path.join(destination, 'nested', 'b.sh'), 'utf8'), 'echo b\n');
    assert.equal(statSync(path.join(destination, 'nested', 'b.sh')).mode & 0o777, 0o755);
  });

  test('~ in the destination is the SSH user\'s home', async () => {
    writeFileSync(path.join(f.projectRoot, 'dotfile'), 'set -o vi\n');
    const name = `.box-file-test-${process.pid}`;
    try {
      await fileProvisioner.provision(f.context(), {type: 'file', source: 'dotfile', destination: `~/${name}/rc`});
      assert.equal(await f.sh(`cat "$HOME/${name}/rc"`), 'set -o vi\n');
    } finally {
      await f.sh(`rm -rf "$HOME/${name}"`);
    }
  });

  test('a missing source names the path it looked at', async () => {
    await assert.rejects(fileProvisioner.provision(f.context(), {type: 'file', source: 'nope.txt', destination: '/tmp/nope.txt'}), (error: {code: string; message: string}) => {
      assert.equal(error.code, 'ERR_PROVISION_SOURCE_MISSING');
      assert.ok(error.message.includes(path.join(f.projectRoot, 'nope.txt')));
      return true;
    });
  });
});
