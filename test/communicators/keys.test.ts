import assert from 'node:assert/strict';
import {execFileSync} from 'node:child_process';
import {mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {INSECURE_PRIVATE_KEY, INSECURE_PUBLIC_KEY} from '../../src/communicators/insecure-key.js';
import {ensureMachineKey, generateKeyPair, insecureKeyPath, publicKeyOf} from '../../src/communicators/keys.js';

describe('keys', () => {
  let dir: string;
  const savedHome = process.env.BOX_HOME;

  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'box-keys-'));
    process.env.BOX_HOME = path.join(dir, 'home');
  });

  after(() => {
    if (savedHome === undefined) delete process.env.BOX_HOME;
    else process.env.BOX_HOME = savedHome;
    rmSync(dir, {recursive: true, force: true});
  });

  test('a generated key is an OpenSSH ed25519 key that ssh-keygen reads', () => {
    const pair = generateKeyPair('me@box');
    assert.match(pair.privateKey, /^-----BEGIN OPENSSH PRIVATE KEY-----\n/);
    assert.match(pair.publicKey, /^ssh-ed25519 AAAA\S+ me@box$/);
    const file = path.join(dir, 'generated');
    writeFileSync(file, pair.privateKey, {mode: 0o600});
    const derived = execFileSync('ssh-keygen', ['-y', '-f', file], {encoding: 'utf8'}).trim();
    assert.equal(derived.split(' ').slice(0, 2).join(' '), pair.publicKey.split(' ').slice(0, 2).join(' '));
  });

  test('every generated key carries a full 32-byte ed25519 key (ssh2 alone truncates about 1 in 270)', () => {
    // 3000 draws: with the truncation unguarded, one bad pair here is all but certain (p of none ≈ 2e-5).
    for (let i = 0; i < 3000; i++) {
      const {publicKey} = generateKeyPair('box');
      const blob = Buffer.from(publicKey.split(' ')[1], 'base64');
      // string "ssh-ed25519" (4 + 11 bytes), then string key (4 + 32 bytes)
      assert.equal(blob.length, 51, publicKey);
      assert.equal(blob.readUInt32BE(15), 32, publicKey);
    }
  });

  test('two generated keys differ', () => {
    assert.notEqual(generateKeyPair().publicKey, generateKeyPair().publicKey);
  });

  test('ensureMachineKey writes a 0600 private key once and then reuses it', async () => {
    const machine = path.join(dir, 'machines', 'web');
    const first = await ensureMachineKey(machine);
    assert.equal(first.privateKeyPath, path.join(machine, 'id_ed25519'));
    assert.equal(statSync(first.privateKeyPath).mode & 0o777, 0o600);
    assert.equal(readFileSync(first.publicKeyPath, 'utf8'), first.publicKey + '\n');
    assert.match(first.publicKey, / box-web$/);
    const second = await ensureMachineKey(machine);
    assert.equal(second.privateKey, first.privateKey);
    assert.equal(second.publicKey, first.publicKey);
  });

  test('the embedded insecure key pair is Vagrant\'s and its halves match', () => {
    assert.equal(publicKeyOf(INSECURE_PRIVATE_KEY), INSECURE_PUBLIC_KEY.split(' ').slice(0, 2).join(' '));
    assert.match(INSECURE_PUBLIC_KEY, /vagrant insecure public key$/);
  });

  test('insecureKeyPath writes the insecure key under BOX_HOME with mode 0600', async () => {
    const file = await insecureKeyPath();
    assert.equal(file, path.join(dir, 'home', 'insecure_private_key'));
    assert.equal(readFileSync(file, 'utf8'), INSECURE_PRIVATE_KEY);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(await insecureKeyPath(), file);
  });

  test('publicKeyOf rejects text that is not a key', () => {
    assert.throws(() => publicKeyOf('not a key'), {code: 'ERR_SSH_KEY_INVALID'});
  });
});
