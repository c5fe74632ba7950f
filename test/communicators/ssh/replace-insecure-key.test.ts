import assert from 'node:assert/strict';
import {readFileSync, writeFileSync} from 'node:fs';
import {after, before, describe, test} from 'node:test';
import {INSECURE_PRIVATE_KEY, INSECURE_PUBLIC_KEY} from '../../../src/communicators/insecure-key.js';
import {generateKeyPair} from '../../../src/communicators/keys.js';
import {replaceInsecureKey} from '../../../src/communicators/ssh/replace-insecure-key.js';
import {SshCommunicator} from '../../../src/communicators/ssh/ssh-communicator.js';
import {createSshd, type Sshd} from '../../fixtures/sshd/sshd.js';

const never = () => new AbortController().signal;
const body = (line: string) => line.split(' ')[1];

describe('replaceInsecureKey', () => {
  let sshd: Sshd;
  const other = generateKeyPair('someone-else');

  before(async () => {
    sshd = await createSshd();
  });

  after(async () => {
    await sshd?.stop();
  });

  function as(privateKey: string): SshCommunicator {
    return new SshCommunicator({host: sshd.host, port: sshd.port, username: sshd.username, privateKey});
  }

  test('swaps the insecure key for the machine key, keeping unrelated keys', async () => {
    // An unrelated key on a last line without its newline must survive untouched.
    writeFileSync(sshd.authorizedKeysFile, `${INSECURE_PUBLIC_KEY}\n${other.publicKey}`);
    const machineKey = generateKeyPair('box-web');
    const comm = as(INSECURE_PRIVATE_KEY);
    try {
      await comm.waitForReady(10_000, never());
      const result = await replaceInsecureKey(comm, machineKey, {authorizedKeysPath: sshd.authorizedKeysFile});
      assert.deepEqual(result, {verified: true});
    } finally {
      await comm.close();
    }

    const lines = readFileSync(sshd.authorizedKeysFile, 'utf8').split('\n').filter(Boolean);
    assert.deepEqual(lines, [other.publicKey, machineKey.publicKey]);

    const withNew = as(machineKey.privateKey);
    assert.equal(await withNew.exec('true'), 0);
    await withNew.close();
    const withOld = as(INSECURE_PRIVATE_KEY);
    await assert.rejects(withOld.waitForReady(1200, never()), {code: 'ERR_SSH_AUTH'});
    await withOld.close();
  });

  test('running it again with the key now in use changes nothing', async () => {
    const machineKey = generateKeyPair('box-db');
    writeFileSync(sshd.authorizedKeysFile, `${machineKey.publicKey}\n`);
    const comm = as(machineKey.privateKey);
    try {
      await replaceInsecureKey(comm, machineKey, {authorizedKeysPath: sshd.authorizedKeysFile});
      assert.equal(readFileSync(sshd.authorizedKeysFile, 'utf8'), `${machineKey.publicKey}\n`);
      assert.equal(await comm.exec('true'), 0);
    } finally {
      await comm.close();
    }
  });

  test('with only the public key it still adds the new key before removing the old one', async () => {
    writeFileSync(sshd.authorizedKeysFile, `${INSECURE_PUBLIC_KEY}\n`);
    const machineKey = generateKeyPair('box-app');
    const comm = as(INSECURE_PRIVATE_KEY);
    try {
      assert.deepEqual(await replaceInsecureKey(comm, machineKey.publicKey, {authorizedKeysPath: sshd.authorizedKeysFile}), {verified: false});
    } finally {
      await comm.close();
    }

    const text = readFileSync(sshd.authorizedKeysFile, 'utf8');
    assert.ok(text.includes(body(machineKey.publicKey)));
    assert.ok(!text.includes(body(INSECURE_PUBLIC_KEY)));
  });

  test('the old key stays when the new key cannot log in', async () => {
    writeFileSync(sshd.authorizedKeysFile, `${INSECURE_PUBLIC_KEY}\n`);
    // A public key that does not belong to the private key handed over: the login check fails.
    const mismatched = {publicKey: generateKeyPair().publicKey, privateKey: generateKeyPair().privateKey};
    const comm = as(INSECURE_PRIVATE_KEY);
    try {
      await assert.rejects(replaceInsecureKey(comm, mismatched, {authorizedKeysPath: sshd.authorizedKeysFile}), (error: {code: string; message: string}) => {
        assert.equal(error.code, 'ERR_SSH_KEY_REPLACE');
        assert.match(error.message, /old key was kept/);
        return true;
      });
    } finally {
      await comm.close();
    }

    assert.ok(readFileSync(sshd.authorizedKeysFile, 'utf8').includes(body(INSECURE_PUBLIC_KEY)));
  });
});
