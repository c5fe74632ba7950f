import assert from 'node:assert/strict';
import {existsSync} from 'node:fs';
import {chmod, mkdir, readFile, rm, writeFile} from 'node:fs/promises';
import {describe, test} from 'node:test';
import {execa} from 'execa';
import {writeFirstBootHandover, guestTookKey} from '../../../src/providers/qemu/first-boot.js';
import {guestKeyLine, noCloudInitLine} from '../../../src/providers/shared/boot-phases.js';
import {lockPasswordLoginsScript, SSHD_CHECK_HOSTKEY} from '../../../src/providers/shared/guest-scripts.js';
import {tempDir} from '../../helpers/cli.js';

describe('the key handed to a box-built guest before it boots (fw_cfg)', () => {
  test('the handed-over script is valid sh, carries the machine\'s PUBLIC key only, the same no-password settings as the SSH round, the host name, and ends with this boot\'s line', async () => {
    const dir = await tempDir('box-first-boot-');
    try {
      const handover = await writeFirstBootHandover(dir.dir, {username: 'vagrant', hostname: 'web-1.example.test'});
      assert.equal(handover.fwCfg.name, 'opt/box/first-boot');
      const script = await readFile(handover.fwCfg.file, 'utf8');
      await execa('sh', ['-n', handover.fwCfg.file]);
      const publicKey = (await readFile(`${dir.dir}/id_ed25519.pub`, 'utf8')).trim();
      const privateKey = await readFile(`${dir.dir}/id_ed25519`, 'utf8');
      assert.ok(script.includes(`printf '%s\\n' '${publicKey}' > "$tmp"`), 'the public key becomes the only line of authorized_keys');
      const privateBody = privateKey.split('\n').filter((l) => l && !l.startsWith('-----'));
      for (const line of privateBody) assert.ok(!script.includes(line), 'no part of the private key');
      // The drop-in is the SSH round's, from one place.
      const dropIn = /mark=.*\nsettings=[^\n]*\n[^\n]*/.exec(lockPasswordLoginsScript())![0];
      assert.ok(script.includes(dropIn), 'same sshd settings as the SSH round');
      assert.match(script, /sshd" -t -h \/run\/box-first-boot-hostkey/);
      assert.doesNotMatch(script, /systemctl restart/, 'no restart of sshd, which waits for this unit');
      assert.match(script, /sh web-1\.example\.test\n/);
      assert.equal(script.trim().split('\n').at(-1), `echo '${guestKeyLine(handover.nonce)}'`);
      const again = await writeFirstBootHandover(dir.dir, {username: 'vagrant'});
      assert.notEqual(again.nonce, handover.nonce, 'a new nonce at every boot');
      assert.doesNotMatch(await readFile(again.fwCfg.file, 'utf8'), /web-1/, 'no host name given: none set');
    } finally {
      await dir.cleanup();
    }
  });

  test('first boot\'s `sshd -t` borrows the check key the box\'s build made, and makes a throwaway key only in a box without one', async () => {
    const dir = await tempDir('box-first-boot-');
    try {
      const handover = await writeFirstBootHandover(dir.dir, {username: 'vagrant'});
      const script = await readFile(handover.fwCfg.file, 'utf8');
      const line = script.split('\n').find((l) => l.includes(SSHD_CHECK_HOSTKEY));
      assert.ok(line, 'the script looks for the build\'s check key');
      // The same line, pointed at a folder of the test's: a fake ssh-keygen records that it ran.
      const bin = `${dir.dir}/bin`;
      await mkdir(bin);
      await writeFile(`${bin}/ssh-keygen`, `#!/bin/sh\necho ran > ${dir.dir}/keygen-ran\n`);
      await chmod(`${bin}/ssh-keygen`, 0o755);
      const checkKey = `${dir.dir}/sshd-check-hostkey`;
      const hostkey = `${dir.dir}/run-hostkey`;
      const choose = () => execa('/bin/sh', ['-c', `hostkey=${hostkey}\n${line.replaceAll(SSHD_CHECK_HOSTKEY, checkKey)}`], {env: {PATH: `${bin}:/usr/bin:/bin`}, extendEnv: false});

      await choose();
      assert.equal(await readFile(`${dir.dir}/keygen-ran`, 'utf8'), 'ran\n', 'no check key: a throwaway one is made');
      await rm(hostkey, {force: true});
      await rm(`${dir.dir}/keygen-ran`);

      await writeFile(checkKey, '-----BEGIN OPENSSH PRIVATE KEY-----\n', {mode: 0o600});
      await choose();
      assert.equal((await execa('readlink', [hostkey])).stdout, checkKey, 'the check key is linked, not copied');
      assert.equal(existsSync(`${dir.dir}/keygen-ran`), false, 'no ssh-keygen on the way to sshd');
    } finally {
      await dir.cleanup();
    }
  });

  test('box believes the guest took the key only on its console line with this boot\'s nonce', async () => {
    const dir = await tempDir('box-first-boot-');
    try {
      const log = `${dir.dir}/serial.log`;
      const none = {tookKey: false, noCloudInit: false};
      assert.deepEqual(await guestTookKey(log, 'abc'), none, 'no log');
      await execa('sh', ['-c', `printf '[  OK  ] Started ssh\\r\\n[   29.5] box-first-boot[187]: \\033[0;1;39m${guestKeyLine('abc')}\\033[0m\\r\\n' > ${log}`]);
      assert.deepEqual(await guestTookKey(log, 'abc'), {tookKey: true, noCloudInit: false});
      assert.deepEqual(await guestTookKey(log, 'abd'), none, 'another boot\'s nonce');
      assert.deepEqual(await guestTookKey(log, undefined), none, 'nothing handed over');
      await execa('sh', ['-c', `printf '[   29.4] box-first-boot[187]: ${noCloudInitLine('abc')}\\r\\n' >> ${log}`]);
      assert.deepEqual(await guestTookKey(log, 'abc'), {tookKey: true, noCloudInit: true});
      assert.deepEqual(await guestTookKey(log, 'abd'), none, 'another boot\'s line says nothing about this one');
    } finally {
      await dir.cleanup();
    }
  });

  test('the script says "no cloud-init" on the console only when the guest has no cloud-init command', async () => {
    const dir = await tempDir('box-first-boot-');
    try {
      const handover = await writeFirstBootHandover(dir.dir, {username: 'vagrant'});
      const script = await readFile(handover.fwCfg.file, 'utf8');
      const line = script.split('\n').find((l) => l.startsWith('command -v cloud-init'));
      assert.ok(line, 'the script asks for cloud-init');
      const bin = `${dir.dir}/bin`;
      await mkdir(bin);
      const say = async () => (await execa('/bin/sh', ['-c', line], {env: {PATH: bin}, extendEnv: false})).stdout;
      assert.equal(await say(), noCloudInitLine(handover.nonce));
      await writeFile(`${bin}/cloud-init`, '#!/bin/sh\n');
      await chmod(`${bin}/cloud-init`, 0o755);
      assert.equal(await say(), '');
    } finally {
      await dir.cleanup();
    }
  });
});
