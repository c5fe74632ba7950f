import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {execa, type ResultPromise} from 'execa';
import {existsSync} from 'node:fs';
import {readFile, stat} from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import {gunzipSync} from 'node:zlib';
import {Client} from 'ssh2';
import {MINIMAL_INIT} from '../../src/builder/methods/debootstrap/minimal-initrd.js';
import {INSECURE_PRIVATE_KEY} from '../../src/communicators/insecure-key.js';
import {SSHD_CHECK_HOSTKEY} from '../../src/providers/shared/guest-scripts.js';
import {boxJson, tempDir} from '../helpers/cli.js';
import {takeE2eSlot} from '../helpers/e2e-slot.js';
import {ensureTestBox, type TestBox} from '../helpers/test-box.js';
import {tailFile} from '../../src/core/tail-file.js';

// Builds (or reuses) the real debian-12-minimal box with the debootstrap method, then boots its
// disk with plain qemu-system-x86_64 under TCG: no -kernel, so GRUB in the image must boot it;
// then boots the same clone again as box up does, with the box's kernel and minimal initrd.

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** Waits for the guest sshd's "SSH-2.0-" banner (QEMU accepts connections long before sshd runs). */
async function waitForBanner(port: number, timeoutMs: number, qemu: ResultPromise, serialLog: string): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (qemu.exitCode !== null) throw new Error(`qemu exited early with ${qemu.exitCode}`);
    const banner = await new Promise<string | undefined>((resolve) => {
      const socket = net.connect({host: '127.0.0.1', port});
      let data = '';
      const done = (v: string | undefined): void => {
        socket.destroy();
        resolve(v);
      };
      socket.setTimeout(3000, () => done(undefined));
      socket.on('data', (d) => {
        data += d.toString('latin1');
        if (data.includes('\n')) done(data.split('\n')[0].trim());
      });
      socket.on('error', () => done(undefined));
      socket.on('close', () => done(undefined));
    });
    if (banner?.startsWith('SSH-')) return banner;
    await new Promise((r) => setTimeout(r, 1000));
  }
  // What the guest printed says where the boot stopped (seen once in CI: a boot that never
  // reached sshd under a loaded host).
  const tail = await tailFile(serialLog, 30);
  throw new Error(`no SSH banner on port ${port} within ${timeoutMs} ms. Last lines of the serial console:\n${tail || '(nothing)'}`);
}

function sshExec(port: number, command: string): Promise<{code: number; stdout: string; stderr: string}> {
  return new Promise((resolve, reject) => {
    const conn = new Client();
    conn.on('ready', () => {
      conn.exec(command, (error, stream) => {
        if (error) return reject(error);
        let stdout = '';
        let stderr = '';
        stream.on('data', (d: Buffer) => (stdout += d.toString()));
        stream.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        stream.on('close', (code: number) => {
          conn.end();
          resolve({code, stdout, stderr});
        });
      });
    });
    conn.on('error', reject);
    conn.connect({host: '127.0.0.1', port, username: 'vagrant', privateKey: INSECURE_PRIVATE_KEY, readyTimeout: 60_000});
  });
}

/** Sends one QMP command on a fresh connection (after the capabilities handshake). */
function qmp(socketPath: string, command: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    let buffer = '';
    let stage = 0;
    socket.on('data', (d) => {
      buffer += d.toString();
      let nl: number;
      while ((nl = buffer.indexOf('\n')) !== -1) {
        const msg = JSON.parse(buffer.slice(0, nl)) as Record<string, unknown>;
        buffer = buffer.slice(nl + 1);
        if (stage === 0 && msg.QMP) {
          stage = 1;
          socket.write(JSON.stringify({execute: 'qmp_capabilities'}) + '\n');
        } else if (stage === 1 && 'return' in msg) {
          stage = 2;
          socket.write(JSON.stringify({execute: command}) + '\n');
        } else if (stage === 2 && ('return' in msg || 'error' in msg)) {
          socket.end();
          if ('error' in msg) reject(new Error(JSON.stringify(msg.error)));
          else resolve(msg.return);
        }
      }
    });
    socket.on('error', reject);
  });
}

/** Presses the ACPI power button over QMP (what `box halt` sends) and waits up to 2 min for QEMU to exit. */
async function powerOff(qemuProcess: ResultPromise, qmpSocket: string): Promise<void> {
  await qmp(qmpSocket, 'system_powerdown');
  const exited = await Promise.race([qemuProcess.then(() => true), new Promise((r) => setTimeout(() => r(false), 120_000))]);
  assert.equal(exited, true, 'QEMU exits after system_powerdown');
}

/** The clone on a virtio disk under TCG, as box's qemu provider runs it; `boot` adds -kernel & co. */
function bootClone(overlay: string, port: number, serialLog: string, qmpSocket: string, boot: string[]): ResultPromise {
  return execa('qemu-system-x86_64', [
    '-machine', 'q35', '-accel', 'tcg,thread=multi', '-smp', '2', '-m', '1024',
    '-drive', `file=${overlay},format=qcow2,if=virtio`,
    '-netdev', `user,id=n0,hostfwd=tcp:127.0.0.1:${port}-:22`, '-device', 'virtio-net-pci,netdev=n0',
    ...boot,
    '-display', 'none', '-serial', `file:${serialLog}`, '-qmp', `unix:${qmpSocket},server=on,wait=off`,
  ], {reject: false});
}

describe('debian-12-minimal built with debootstrap', {timeout: 40 * 60_000}, () => {
  let testBox: TestBox;
  let work: {dir: string; cleanup: () => Promise<void>};
  let release: (() => Promise<void>) | undefined;
  let qemu: ResultPromise | undefined;
  let metadata: Record<string, any>;
  /** box up's way to boot the clone: QEMU -kernel with the box's kernel, minimal initrd and command line. */
  const directBoot = () => ['-kernel', path.join(work.dir, metadata.kernel), '-initrd', path.join(work.dir, metadata.initrd), '-append', metadata.cmdline];

  before(async () => {
    testBox = await ensureTestBox();
    work = await tempDir('box-debootstrap-e2e-');
    await execa('tar', ['-xf', testBox.boxPath, '-C', work.dir]);
    metadata = JSON.parse(await readFile(path.join(work.dir, 'metadata.json'), 'utf8'));
  });

  after(async () => {
    if (qemu && qemu.exitCode === null) {
      qemu.kill('SIGKILL');
      await qemu.catch(() => undefined);
    }
    await release?.();
    await work?.cleanup();
  });

  test('the box is a libvirt box whose metadata names provider, format, virtual size, kernel and build inputs', async () => {
    assert.equal(metadata.provider, 'libvirt');
    assert.equal(metadata.format, 'qcow2');
    assert.equal(metadata.virtual_size, 10);
    assert.equal(metadata.kernel, 'vmlinuz');
    assert.equal(metadata.initrd, 'initrd.img');
    assert.match(metadata.cmdline, /^root=UUID=[0-9a-f-]{36} rw .*console=ttyS0/);
    assert.match(metadata.box_build.inputs_hash, /^[0-9a-f]{64}$/);
    assert.ok((await stat(path.join(work.dir, 'vmlinuz'))).size > 1_000_000, 'vmlinuz is a real kernel');
    assert.ok((await stat(path.join(work.dir, 'initrd.img'))).size > 100_000, 'initrd.img is a real initramfs');
    assert.ok(gunzipSync(await readFile(path.join(work.dir, 'initrd.img'))).includes(MINIMAL_INIT), 'box\'s minimal initrd (direct_boot_initrd: minimal)');
    assert.ok(existsSync(path.join(work.dir, 'Vagrantfile')));
  });

  test('box.img is a compressed qcow2 much smaller than its virtual size', async () => {
    const info = JSON.parse((await execa('qemu-img', ['info', '--output=json', path.join(work.dir, 'box.img')])).stdout);
    assert.equal(info.format, 'qcow2');
    assert.equal(info['virtual-size'], 10 * 1024 ** 3);
    assert.equal(info['format-specific']?.data?.['compression-type'], 'zstd');
    const size = (await stat(path.join(work.dir, 'box.img'))).size;
    assert.ok(size < 400 * 1024 ** 2, `box.img is ${size} bytes`);
  });

  test('the image boots with its own GRUB under TCG and vagrant logs in with the insecure key and has passwordless sudo', async () => {
    release = await takeE2eSlot();
    const overlay = path.join(work.dir, 'overlay.qcow2');
    await execa('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', path.join(work.dir, 'box.img'), overlay]);
    const port = await freePort();
    const qmpSocket = path.join(work.dir, 'qmp.sock');
    const serialLog = path.join(work.dir, 'serial.log');
    qemu = bootClone(overlay, port, serialLog, qmpSocket, []);
    const t0 = Date.now();
    try {
      const banner = await waitForBanner(port, 8 * 60_000, qemu, serialLog);
      assert.match(banner, /^SSH-2\.0-OpenSSH/);
      process.stderr.write(`[debootstrap e2e] SSH banner after ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);

      const who = await sshExec(port, 'id -un && sudo -n true && echo SUDO_OK && cat /proc/cmdline');
      assert.equal(who.code, 0, who.stderr);
      const [user, sudo, cmdline] = who.stdout.trim().split('\n');
      assert.equal(user, 'vagrant');
      assert.equal(sudo, 'SUDO_OK');
      // GRUB (not QEMU's -kernel) loaded the kernel: it adds BOOT_IMAGE to the command line.
      assert.match(cmdline, /BOOT_IMAGE=\/boot\/vmlinuz-/);
      assert.match(cmdline, /console=ttyS0/);

      // First boot made this clone's own identity; DHCP and DNS are set up without ifupdown.
      const facts = await sshExec(port, 'cat /etc/machine-id; ls /etc/ssh/ssh_host_ed25519_key.pub; systemctl is-active systemd-networkd systemd-logind; cat /etc/resolv.conf');
      assert.equal(facts.code, 0, facts.stderr);
      assert.match(facts.stdout, /^[0-9a-f]{32}\n/);
      assert.match(facts.stdout, /active\nactive\n/);
      assert.match(facts.stdout, /nameserver 10\.0\.2\.3/);

      // The trimmed boot (fast-boot.sh: generators and early units masked, no SIMD crypto drivers)
      // leaves no unit failed, and first boot's `sshd -t` has the build's check key, which sshd
      // itself never serves.
      const boot = await sshExec(port, `systemctl is-system-running --wait; sudo /usr/sbin/sshd -t -h ${SSHD_CHECK_HOSTKEY} && echo CHECK_KEY_OK; sudo /usr/sbin/sshd -T | grep -c ${path.basename(SSHD_CHECK_HOSTKEY)}; grep -c -E "^(aesni_intel|sha256_ssse3|crc32c_intel) " /proc/modules`);
      const [state, checkKey, served, simdCrypto] = boot.stdout.trim().split('\n');
      assert.equal(simdCrypto, '0', 'udev did not autoload the SIMD crypto drivers (seconds of TCG boot)');
      assert.equal(state, 'running', boot.stdout + boot.stderr);
      assert.equal(checkKey, 'CHECK_KEY_OK', boot.stderr);
      assert.equal(served, '0', 'sshd does not serve the check key');

      // udev's coldplug skipped the virtual terminals (fast-boot.sh's trigger drop-in): their
      // nodes keep devtmpfs's root group instead of the rules' tty group. The serial console and
      // tty0 were replayed: dialout and tty groups, and the serial getty runs.
      const ttys = await sshExec(port, 'stat -c %G /dev/tty5 /dev/vcs1 /dev/ttyS0 /dev/tty0; systemctl is-active serial-getty@ttyS0');
      assert.deepEqual(ttys.stdout.trim().split('\n'), ['root', 'root', 'dialout', 'tty', 'active'], ttys.stderr);

      // The ACPI power button over QMP (what `box halt` sends) powers the guest off.
      await powerOff(qemu, qmpSocket);
    } catch (error) {
      const log = await readFile(serialLog, 'utf8').catch(() => '');
      process.stderr.write(`--- serial log tail ---\n${log.split('\n').slice(-40).join('\n')}\n`);
      throw error;
    }
  });

  test('box up\'s way, QEMU -kernel with the box\'s minimal initrd: the halted clone boots again, root mounted read-write by the initrd (clean: no fsck)', async () => {
    release ??= await takeE2eSlot();
    const overlay = path.join(work.dir, 'overlay.qcow2');
    assert.ok(existsSync(overlay), 'the clone the GRUB boot powered off');
    const port = await freePort();
    const qmpSocket = path.join(work.dir, 'qmp-direct.sock');
    const serialLog = path.join(work.dir, 'serial-direct.log');
    qemu = bootClone(overlay, port, serialLog, qmpSocket, directBoot());
    const t0 = Date.now();
    try {
      assert.match(await waitForBanner(port, 8 * 60_000, qemu, serialLog), /^SSH-2\.0-OpenSSH/);
      process.stderr.write(`[debootstrap e2e] direct boot with the minimal initrd: SSH banner after ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
      const facts = await sshExec(port, 'cat /proc/cmdline; findmnt -no OPTIONS /; systemctl show -P ConditionResult systemd-fsck-root; systemctl is-active systemd-remount-fs; systemctl show -P ActiveEnterTimestampMonotonic systemd-logind; systemctl show -P InactiveExitTimestampMonotonic ssh');
      assert.equal(facts.code, 0, facts.stderr);
      const [cmdline, options, fsck, remount, logindReady, sshStarting] = facts.stdout.trim().split('\n');
      // `box halt` presses the ACPI power button as soon as `up` returns: logind listens by then.
      assert.ok(Number(logindReady) > 0 && Number(logindReady) <= Number(sshStarting), `logind ready at ${logindReady} µs, sshd starting at ${sshStarting} µs`);
      assert.doesNotMatch(cmdline!, /BOOT_IMAGE/, 'QEMU loaded the kernel, not GRUB');
      assert.match(options!, /^rw,/, 'root is read-write');
      assert.equal(fsck, 'no', 'systemd-fsck-root skipped itself: the initrd mounted the clean root read-write');
      assert.equal(remount, 'active');
      assert.doesNotMatch(await readFile(serialLog, 'utf8'), /box initrd:/, 'the initrd reported no failure');
      await powerOff(qemu, qmpSocket);
    } catch (error) {
      const log = await readFile(serialLog, 'utf8').catch(() => '');
      process.stderr.write(`--- serial log tail ---\n${log.split('\n').slice(-40).join('\n')}\n`);
      throw error;
    }
  });

  test('an error recorded on root (errors=remount-ro) makes the next direct boot mount it read-only: systemd-fsck-root repairs it, the guest reboots clean', async () => {
    release ??= await takeE2eSlot();
    const overlay = path.join(work.dir, 'overlay.qcow2');
    const bootDirect = async (name: string) => {
      const port = await freePort();
      const qmpSocket = path.join(work.dir, `qmp-${name}.sock`);
      const serialLog = path.join(work.dir, `serial-${name}.log`);
      qemu = bootClone(overlay, port, serialLog, qmpSocket, directBoot());
      assert.match(await waitForBanner(port, 8 * 60_000, qemu, serialLog), /^SSH-2\.0-OpenSSH/);
      return {port, serialLog, powerdown: () => powerOff(qemu!, qmpSocket)};
    };
    let serialLog = '';
    try {
      const marked = await bootDirect('mark-error');
      serialLog = marked.serialLog;
      // ext4's own test hook records an error as a real one does; errors=remount-ro then makes root read-only.
      const mark = await sshExec(marked.port, 'echo 1 | sudo tee /sys/fs/ext4/vda1/trigger_fs_error >/dev/null; sudo touch /box-probe 2>&1; sudo dumpe2fs -h /dev/vda1 2>/dev/null | sed -n "s/^Filesystem state: *//p"');
      assert.match(mark.stdout.trim(), /Read-only file system\nclean with errors$/, mark.stdout + mark.stderr);
      await marked.powerdown();

      // The next boot: the initrd mounts root read-only, e2fsck repairs it and, as it does for a
      // repaired root, systemd-fsck reboots; the boot after that finds root clean.
      const checked = await bootDirect('checked');
      serialLog = checked.serialLog;
      const log = await readFile(serialLog, 'utf8');
      const flagged = log.search(/box initrd: root \(\/dev\/vda1\) is mounted read-only for systemd-fsck-root: its superblock records errors/);
      assert.ok(flagged >= 0, 'the initrd said why root is read-only');
      assert.ok(log.indexOf('Starting systemd-fsck-root', flagged) > flagged, 'systemd-fsck-root ran after it');
      const facts = await sshExec(checked.port, 'sudo dumpe2fs -h /dev/vda1 2>/dev/null | sed -n "s/^Filesystem state: *//p"; findmnt -no OPTIONS /; systemctl show -P ConditionResult systemd-fsck-root');
      assert.equal(facts.code, 0, facts.stderr);
      assert.deepEqual(facts.stdout.trim().split('\n').map((l, i) => (i === 1 ? l.split(',')[0] : l)), ['clean', 'rw', 'no'],
        'e2fsck cleared the error; the boot after the repair mounted root read-write with no check');
      await checked.powerdown();
    } catch (error) {
      const log = await readFile(serialLog, 'utf8').catch(() => '');
      process.stderr.write(`--- serial log tail ---\n${log.split('\n').slice(-40).join('\n')}\n`);
      throw error;
    }
  });

  test('an identical rebuild through the CLI is answered from the cache in under a second', async () => {
    // Guard: never let this test start a real rebuild in the shared test-box folder.
    const plan = await boxJson(['build', 'debian-12-minimal', '--dry-run', '--output', path.dirname(testBox.boxPath)]);
    assert.equal(plan.json.inputsHash, metadata.box_build.inputs_hash, 'the CLI computes the same inputs hash as the build that made the box');
    const started = Date.now();
    const {result, json} = await boxJson(['build', 'debian-12-minimal', '--output', path.dirname(testBox.boxPath)]);
    const wall = Date.now() - started;
    assert.equal(result.exitCode, 0, String(result.stderr));
    assert.equal(json.cacheHit, true);
    assert.equal(json.box.path, testBox.boxPath);
    assert.equal(json.box.sha256, testBox.sha256);
    assert.ok(json.totalMs < 1000, `cache hit took ${json.totalMs} ms`);
    assert.ok(wall < 5000, `CLI wall time ${wall} ms`);
  });

  test('--add on a cache hit installs the built box into the store', async () => {
    const home = await tempDir('box-debootstrap-add-');
    try {
      const {result, json} = await boxJson(['build', 'debian-12-minimal', '--output', path.dirname(testBox.boxPath), '--add'], {boxHome: home.dir, timeoutMs: 300_000});
      assert.equal(result.exitCode, 0, String(result.stderr));
      assert.equal(json.cacheHit, true);
      assert.deepEqual(json.added, {name: 'debian-12-minimal', version: testBox.version, provider: 'libvirt'});
      const list = await boxJson(['box', 'list'], {boxHome: home.dir});
      assert.equal(list.result.exitCode, 0, String(list.result.stderr));
      assert.match(JSON.stringify(list.json), /debian-12-minimal/);
      assert.ok(existsSync(path.join(home.dir, 'boxes', 'debian-12-minimal')));
    } finally {
      await home.cleanup();
    }
  });
});
