/**
 * cloud-init user-data on a REAL guest under TCG: the debian-12-cloud box (templates/, built
 * once and cached like the test box) boots with box's NoCloud seed CD; Debian's real cloud-init
 * writes a file, creates a user and runs a command from the Boxfile's `user_data`, and `box up`
 * returns only once cloud-init is done. The vagrant user and box's key swap still work. One
 * guest, shared by all cases.
 */
import assert from 'node:assert/strict';
import {writeFile} from 'node:fs/promises';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {box, boxJson, tempDir} from '../helpers/cli.js';
import {takeE2eSlot} from '../helpers/e2e-slot.js';
import {addTestBox, ensureTemplateBox} from '../helpers/test-box.js';
import {removeE2eProject} from '../helpers/e2e-project.js';

/** debian-12-cloud borrows debian-12-minimal's scripts: they are part of its cache key. */
const ensureCloudBox = () => ensureTemplateBox('debian-12-cloud', ['templates/debian-12-minimal']);

const boxfile = `name: cloudy
basebox: debian-12-cloud
targets:
  qemu: {cpus: 2, memory: 512}
user_data: |
  #cloud-config
  write_files:
    - path: /etc/box-cloud.txt
      content: "written by cloud-init from box's user_data\\n"
      permissions: "0644"
  groups: [deployers]
  users:
    - default
    - name: alice
      groups: [deployers, adm]
      shell: /bin/bash
      lock_passwd: true
  runcmd:
    - [sh, -c, "sleep 3; echo ran > /var/tmp/box-runcmd"]
`;

describe('cloud-init user_data on a real debian-12-cloud guest', {timeout: 30 * 60_000}, () => {
  let release: () => Promise<void>;
  let home: Awaited<ReturnType<typeof tempDir>>;
  let project: Awaited<ReturnType<typeof tempDir>>;
  let upStatus = '';
  const onGuest = async (command: string): Promise<string> => {
    const r = await box(['ssh', '-c', command], {cwd: project.dir, boxHome: home.dir, timeoutMs: 60_000});
    assert.equal(r.exitCode, 0, `${command}\n${r.stdout}\n${r.stderr}`);
    return String(r.stdout);
  };

  before(async () => {
    release = await takeE2eSlot();
    const cloudBox = await ensureCloudBox();
    home = await tempDir('box-e2e-home-');
    project = await tempDir('box-e2e-cloud-init-');
    await addTestBox(home.dir, cloudBox);
    await writeFile(path.join(project.dir, 'Boxfile'), boxfile);
    const t0 = Date.now();
    const {result, json} = await boxJson(['up'], {cwd: project.dir, boxHome: home.dir, timeoutMs: 900_000});
    assert.equal(result.exitCode, 0, `${result.stderr}\n${JSON.stringify(json?.error ?? json)}`);
    console.log(`# box up with user_data: ${((Date.now() - t0) / 1000).toFixed(0)} s; timings ${JSON.stringify(json.machines[0].timings)}`);
    assert.deepEqual(json.machines[0].cloudInit, {status: 'done'});
    // Asked at once, before anything else runs in the guest: box up waited for cloud-init.
    upStatus = await onGuest('cloud-init status');
  });

  after(async () => {
    await removeE2eProject(project, home);
    await release?.();
  });

  test('cloud-init is already done when box up returns (box up waited for it, runcmd included)', async () => {
    assert.match(upStatus, /^status: done$/m);
    assert.equal((await onGuest('cat /var/tmp/box-runcmd')).trim(), 'ran');
  });

  test('write_files wrote the file and users: created the user with its groups and shell', async () => {
    assert.equal((await onGuest('cat /etc/box-cloud.txt')).trim(), "written by cloud-init from box's user_data");
    assert.equal((await onGuest('stat -c %a /etc/box-cloud.txt')).trim(), '644');
    const id = await onGuest('id alice');
    assert.match(id, /^uid=\d+\(alice\) gid=\d+\(alice\) groups=.*\bdeployers\b/);
    assert.match(id, /\(adm\)/);
    assert.equal((await onGuest('getent passwd alice | cut -d: -f7')).trim(), '/bin/bash');
  });

  test('the seed is the cidata CD, and the vagrant user keeps password-less sudo (no host name warning) and box\'s own key', async () => {
    assert.match(await onGuest('sudo -n blkid -o export /dev/sr0'), /^LABEL=cidata$/m);
    assert.match(await onGuest('sudo -n cloud-init status --long'), /DataSourceNoCloud \[seed=\/dev\/sr0\]/);
    const sudo = await box(['ssh', '-c', 'sudo -n id -un'], {cwd: project.dir, boxHome: home.dir, timeoutMs: 60_000});
    assert.equal(String(sudo.stdout).trim(), 'root');
    assert.doesNotMatch(String(sudo.stderr), /unable to resolve host/);
    // cloud-init's default user is vagrant, with password-less sudo (never a password prompt).
    assert.match(await onGuest('sudo -n cat /etc/sudoers.d/90-cloud-init-users'), /^vagrant ALL=\(ALL\) NOPASSWD:ALL$/m);
    // box replaced Vagrant's insecure key with the machine's own (box ssh just used it).
    assert.doesNotMatch(await onGuest('cat ~/.ssh/authorized_keys'), /vagrant insecure public key/);
    // No Boxfile hostname: cloud-init names the guest after the machine (meta-data local-hostname) and says so in /etc/hosts.
    assert.equal((await onGuest('hostname')).trim(), 'default');
    assert.match(await onGuest('cat /etc/hosts'), /^127\.0\.1\.1\s.*\bdefault\b/m);
  });
});
