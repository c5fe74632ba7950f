/**
 * Shared (live) synced folders on the qemu target with REAL guests (256 MiB, TCG) of the
 * Debian 12 test box, whose linux-image-cloud-amd64 kernel has virtiofs (CONFIG_VIRTIO_FS=m)
 * but no 9p (CONFIG_NET_9P is not set):
 * - virtiofs: a file the guest writes shows up on the host and a file the host writes shows up
 *   in the guest, with no sync command; after halt + up the folder is mounted again; halt and
 *   destroy leave no virtiofsd.
 * - 9p: `up` fails saying the guest kernel has no 9p, and leaves nothing behind.
 * - A QEMU that fails to start leaves no virtiofsd behind.
 * One guest (web) is shared by the virtiofs cases.
 */
import assert from 'node:assert/strict';
import {existsSync, readdirSync} from 'node:fs';
import {chmod, mkdir, readFile, rm, stat, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {box, boxJson, tempDir} from '../helpers/cli.js';
import {takeE2eSlot} from '../helpers/e2e-slot.js';
import {addTestBox, ensureTestBox} from '../helpers/test-box.js';
import {removeE2eProject} from '../helpers/e2e-project.js';
import {qemuProcesses, virtiofsdProcesses} from '../helpers/qemu-processes.js';

const boxfile = `name: shared
basebox: debian-12-minimal
targets:
  qemu: {cpus: 2, memory: 256}
machines:
  web:
    synced_folders:
      - {source: live, destination: /srv/live, type: virtiofs}
  nine:
    synced_folders:
      - {source: live, destination: /srv/nine, type: 9p}
  broken:
    targets:
      qemu: {extra_args: [-no-such-option]}
    synced_folders:
      - {source: live, destination: /srv/live, type: virtiofs}
`;

/** Polls `probe` until it returns true (the guest's attribute cache lasts about a second). */
async function eventually(probe: () => Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.fail(`${what} within ${timeoutMs} ms`);
}

describe('shared synced folders on real qemu guests: virtiofs live both ways, 9p refused by the cloud kernel', {timeout: 20 * 60_000}, () => {
  let release: () => Promise<void>;
  let home: Awaited<ReturnType<typeof tempDir>>;
  let project: Awaited<ReturnType<typeof tempDir>>;
  let live: string;
  const run = (args: string[], timeoutMs = 300_000) => box(args, {cwd: project.dir, boxHome: home.dir, timeoutMs});
  /** The project's files in QEMU 7.2 virtiofsd's pid file folder. */
  const virtiofsdPidFiles = (): string[] => (existsSync('/var/run/virtiofsd') ? readdirSync('/var/run/virtiofsd') : []).filter((f) => f.startsWith(project.dir.replaceAll('/', '.')));
  const onGuest = async (command: string): Promise<string> => {
    const r = await run(['ssh', 'web', '-c', command], 60_000);
    assert.equal(r.exitCode, 0, `${command}\n${r.stdout}\n${r.stderr}`);
    return String(r.stdout);
  };

  before(async () => {
    release = await takeE2eSlot();
    await ensureTestBox();
    home = await tempDir('box-e2e-home-');
    project = await tempDir('box-e2e-shared-');
    await addTestBox(home.dir);
    await writeFile(path.join(project.dir, 'Boxfile'), boxfile);
    live = path.join(project.dir, 'live');
    await mkdir(live);
    // The guest's user (uid 1000) writes into it: ownership passes through virtiofs as is.
    await chmod(live, 0o777);
    await writeFile(path.join(live, 'before-up.txt'), 'written on the host before up\n');
  });

  after(async () => {
    await removeE2eProject(project, home);
    for (const pid of virtiofsdProcesses(project.dir)) process.kill(pid, 'SIGKILL');
    await release?.();
  });

  test('up mounts the virtiofs folder: the host\'s file is there, served by one virtiofsd', async () => {
    const {result, json} = await boxJson(['up', 'web'], {cwd: project.dir, boxHome: home.dir, timeoutMs: 300_000});
    assert.equal(result.exitCode, 0, `${result.stderr}\n${JSON.stringify(json)}`);
    assert.equal(typeof json.machines[0].timings.syncedFolders, 'number', 'the synced-folders step ran');
    assert.match(await onGuest('findmnt -n -o FSTYPE,SOURCE /srv/live'), /^virtiofs\s+box0$/m);
    assert.equal(await onGuest('cat /srv/live/before-up.txt'), 'written on the host before up');
    assert.equal(virtiofsdProcesses(project.dir).length > 0, true, 'a virtiofsd serves the folder');
  });

  test('a file the guest writes appears on the host, and one the host writes appears in the guest, with no sync command', async () => {
    await onGuest('echo "from the guest" > /srv/live/guest.txt && sudo mkdir -p /srv/live/by-root && echo root | sudo tee /srv/live/by-root/r.txt >/dev/null');
    assert.equal(await readFile(path.join(live, 'guest.txt'), 'utf8'), 'from the guest\n');
    assert.equal(await readFile(path.join(live, 'by-root', 'r.txt'), 'utf8'), 'root\n');
    // The guest user's uid as the host sees it (no mapping).
    assert.equal((await stat(path.join(live, 'guest.txt'))).uid, 1000);

    await writeFile(path.join(live, 'host.txt'), 'from the host\n');
    await eventually(async () => (await run(['ssh', 'web', '-c', 'cat /srv/live/host.txt'], 60_000)).stdout === 'from the host', 'the host\'s new file readable in the guest');
    await writeFile(path.join(live, 'host.txt'), 'changed on the host\n');
    await eventually(async () => (await run(['ssh', 'web', '-c', 'cat /srv/live/host.txt'], 60_000)).stdout === 'changed on the host', 'the host\'s change seen in the guest');
    await rm(path.join(live, 'host.txt'));
    await eventually(async () => (await run(['ssh', 'web', '-c', 'test -e /srv/live/host.txt || echo gone'], 60_000)).stdout === 'gone', 'the host\'s deletion seen in the guest');
  });

  test('after halt (no virtiofsd left) and up, the folder is mounted again with what the host wrote meanwhile', async () => {
    const halted = await run(['halt', 'web', '--timeout', '90']);
    assert.equal(halted.exitCode, 0, String(halted.stderr));
    assert.deepEqual(virtiofsdProcesses(project.dir), [], 'halt leaves no virtiofsd');
    assert.deepEqual(qemuProcesses(project.dir), []);
    await writeFile(path.join(live, 'while-halted.txt'), 'written while halted\n');
    // An up of the existing machine whose QEMU fails to start (no cleanups run for an existing
    // machine) stops the virtiofsd it started for it.
    await writeFile(path.join(project.dir, 'Boxfile'), boxfile.replace('  web:\n', '  web:\n    targets:\n      qemu: {extra_args: [-no-such-option]}\n'));
    const failed = await run(['up', 'web']);
    assert.equal(failed.exitCode, 1, String(failed.stderr));
    assert.match(String(failed.stderr), /QEMU failed to start web/);
    assert.deepEqual(virtiofsdProcesses(project.dir), [], 'no virtiofsd left by the failed boot');
    await writeFile(path.join(project.dir, 'Boxfile'), boxfile);
    const up = await run(['up', 'web']);
    assert.equal(up.exitCode, 0, String(up.stderr));
    assert.match(await onGuest('findmnt -n -o FSTYPE,SOURCE /srv/live'), /^virtiofs\s+box0$/m);
    assert.equal(await onGuest('cat /srv/live/while-halted.txt /srv/live/guest.txt'), 'written while halted\nfrom the guest');
    // up of a running machine leaves the mount as it is.
    const again = await run(['up', 'web']);
    assert.equal(again.exitCode, 0, String(again.stderr));
    assert.match(await onGuest('findmnt -n -o FSTYPE,SOURCE /srv/live'), /^virtiofs\s+box0$/m);
  });

  test('destroy stops QEMU and virtiofsd and keeps the host folder\'s files', async () => {
    const destroyed = await run(['destroy', 'web', '--force']);
    assert.equal(destroyed.exitCode, 0, String(destroyed.stderr));
    assert.deepEqual(virtiofsdProcesses(project.dir), []);
    assert.deepEqual(qemuProcesses(project.dir), []);
    // Nor the pid file QEMU 7.2's virtiofsd leaves in /var/run/virtiofsd.
    assert.deepEqual(virtiofsdPidFiles(), []);
    assert.equal(await readFile(path.join(live, 'guest.txt'), 'utf8'), 'from the guest\n');
  });

  test('a QEMU that fails to start leaves no virtiofsd waiting for it', async () => {
    const up = await run(['up', 'broken']);
    assert.equal(up.exitCode, 1, String(up.stderr));
    assert.match(String(up.stderr), /QEMU failed to start broken/);
    assert.deepEqual(virtiofsdProcesses(project.dir), []);
    assert.deepEqual(virtiofsdPidFiles(), []);
    assert.deepEqual(qemuProcesses(project.dir), []);
  });

  test('9p: up fails saying the guest kernel has no 9p, suggests virtiofs or rsync, and leaves nothing behind', async () => {
    const up = await run(['up', 'nine']);
    assert.equal(up.exitCode, 1, String(up.stderr));
    const stderr = String(up.stderr);
    assert.match(stderr, /cannot mount the 9p synced folder \S+live at \/srv\/nine: the guest kernel 6\.1\.\S+-cloud-amd64 has no 9p file system \(no 9p, 9pnet, 9pnet_virtio module/);
    assert.match(stderr, /type: virtiofs.*type: rsync/);
    const {json} = await boxJson(['status', 'nine'], {cwd: project.dir, boxHome: home.dir});
    assert.equal(json.machines[0].status, 'not-created');
    assert.deepEqual(qemuProcesses(project.dir), []);
  });
});
