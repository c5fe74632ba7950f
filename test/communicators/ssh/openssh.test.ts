import assert from 'node:assert/strict';
import {mkdtemp, rm, writeFile} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {execa} from 'execa';
import {sshArgs, sshConfigBlock} from '../../../src/communicators/ssh/openssh.js';

const info = {host: '127.0.0.1', port: 40022, username: 'vagrant', privateKeyPath: '/p/.box/machines/web dir/id_ed25519'};

describe('OpenSSH client settings', () => {
  let dir: string;
  before(async () => { dir = await mkdtemp(path.join(os.tmpdir(), 'box-openssh-')); });
  after(() => rm(dir, {recursive: true, force: true}));

  test('the ssh-config Host block is what the real ssh client resolves for that host', async () => {
    const file = path.join(dir, 'config');
    await writeFile(file, sshConfigBlock('web', info));
    // `ssh -G` prints the effective configuration without connecting.
    const {stdout} = await execa('ssh', ['-G', '-F', file, 'web']);
    const conf = new Map(stdout.split('\n').map((l) => [l.slice(0, l.indexOf(' ')), l.slice(l.indexOf(' ') + 1)]));
    assert.equal(conf.get('hostname'), '127.0.0.1');
    assert.equal(conf.get('port'), '40022');
    assert.equal(conf.get('user'), 'vagrant');
    assert.equal(conf.get('identityfile'), info.privateKeyPath);
    assert.equal(conf.get('identitiesonly'), 'yes');
    assert.equal(conf.get('stricthostkeychecking'), 'false');
  });

  test('ssh arguments put the remote command after -- and force a TTY only when asked', () => {
    const args = sshArgs(info, {command: 'exit 3'});
    assert.deepEqual(args.slice(-3), ['vagrant@127.0.0.1', '--', 'exit 3']);
    assert.ok(!args.includes('-t'));
    assert.ok(sshArgs(info, {tty: true}).includes('-t'));
    assert.equal(args[args.indexOf('-p') + 1], '40022');
    assert.equal(args[args.indexOf('-i') + 1], info.privateKeyPath);
  });
});
