/**
 * Artifacts come back over a real SSH session (the test sshd logs in as the user running the
 * tests, so the "guest" is this host): paths and globs, absolute and relative to the home,
 * patterns that match nothing, names with spaces, and an earlier run's files kept.
 */
import assert from 'node:assert/strict';
import {mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {SshCommunicator} from '../../src/communicators/ssh/ssh-communicator.js';
import {collectArtifacts} from '../../src/services/ci/artifacts.js';
import {createSshd, type Sshd} from '../fixtures/sshd/sshd.js';

describe('box ci artifacts over SSH', () => {
  let sshd: Sshd;
  let comm: SshCommunicator;
  let guest: string;
  let host: string;
  const never = new AbortController().signal;

  before(async () => {
    sshd = await createSshd();
    comm = new SshCommunicator({host: sshd.host, port: sshd.port, username: sshd.username, privateKey: sshd.key.privateKey});
    await comm.waitForReady(10_000, never);
    guest = mkdtempSync(path.join(os.tmpdir(), 'box-ci-guest-'));
    host = mkdtempSync(path.join(os.tmpdir(), 'box-ci-host-'));
    mkdirSync(path.join(guest, 'reports', 'sub'), {recursive: true});
    writeFileSync(path.join(guest, 'reports', 'a.xml'), '<a/>');
    writeFileSync(path.join(guest, 'reports', 'sub', 'b.xml'), '<b/>');
    writeFileSync(path.join(guest, 'reports', 'skip.txt'), 'no');
    writeFileSync(path.join(guest, 'with space.log'), 'spaced');
  });
  after(async () => {
    await comm?.close();
    await sshd?.stop();
    rmSync(guest, {recursive: true, force: true});
    rmSync(host, {recursive: true, force: true});
  });

  test('globs and folders come back below <dir>/<machine> with their guest path; missing ones are named', async () => {
    const warnings: string[] = [];
    const got = await collectArtifacts(comm, [`${guest}/reports/*.xml`, `${guest}/reports/sub`, `${guest}/with space.log`, `${guest}/nothing-*.xml`], {dir: host, machine: 'web', signal: never, onWarning: (l) => warnings.push(l)});
    assert.equal(got.error, undefined, got.error);
    const base = path.join(host, 'web', guest.slice(1));
    assert.equal(readFileSync(path.join(base, 'reports', 'a.xml'), 'utf8'), '<a/>');
    assert.equal(readFileSync(path.join(base, 'reports', 'sub', 'b.xml'), 'utf8'), '<b/>');
    assert.equal(readFileSync(path.join(base, 'with space.log'), 'utf8'), 'spaced');
    assert.ok(!existsSync(path.join(base, 'reports', 'skip.txt')), 'only what the patterns name');
    assert.deepEqual(got.missing, [`${guest}/nothing-*.xml`]);
    assert.deepEqual(warnings, [], 'tar\'s note about leading slashes is not a warning');
    assert.ok(got.files >= 3);
  });

  test('a second collection adds to the folder; nothing matching is no archive and no error', async () => {
    writeFileSync(path.join(host, 'keep.txt'), 'mine');
    const none = await collectArtifacts(comm, [`${guest}/absent`], {dir: host, machine: 'db', signal: never, onWarning: () => undefined});
    assert.deepEqual(none, {dir: path.join(host, 'db'), files: 0, missing: [`${guest}/absent`]});
    assert.ok(!existsSync(path.join(host, 'db')));
    assert.equal(readFileSync(path.join(host, 'keep.txt'), 'utf8'), 'mine');
  });

  test('relative patterns are read from the SSH user\'s home', async () => {
    const inHome = mkdtempSync(path.join(os.homedir(), '.box-ci-test-'));
    try {
      writeFileSync(path.join(inHome, 'r.xml'), '<r/>');
      const rel = `${path.basename(inHome)}/*.xml`;
      const got = await collectArtifacts(comm, [rel], {dir: host, machine: 'rel', signal: never, onWarning: () => undefined});
      assert.equal(readFileSync(path.join(host, 'rel', path.basename(inHome), 'r.xml'), 'utf8'), '<r/>');
      assert.equal(got.files, 1);
    } finally {
      rmSync(inHome, {recursive: true, force: true});
    }
  });
});
