import assert from 'node:assert/strict';
import {appendFile, readFile, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {describe, test} from 'node:test';
import {fileURLToPath} from 'node:url';
import {bootPhases, guestKeyLine, type StampedLine} from '../../../src/providers/shared/boot-phases.js';
import {SerialWatch} from '../../../src/providers/shared/serial-watch.js';
import {tempDir} from '../../helpers/cli.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'fixtures', 'serial');

/** A real console log, its lines stamped one second apart from t=1000 (QEMU started at t=0). */
async function stamped(name: string): Promise<StampedLine[]> {
  const text = await readFile(path.join(fixtures, name), 'utf8');
  return text.split('\n').map((line, i) => ({at: 1000 * (i + 1), text: line}));
}

const lineAt = (lines: StampedLine[], pattern: RegExp): number => lines.find((l) => pattern.test(l.text))!.at;

describe('boot phases from the serial console', () => {
  test('a Debian guest booted with an initrd (GRUB or -initrd): kernel, initrd, userspace, sshd and multi-user, in that order, through the console\'s colours', async () => {
    const lines = await stamped('debian-12-initrd.log');
    const phases = bootPhases(lines, 0);
    assert.deepEqual(phases, {
      kernel: lineAt(lines, /Linux version/),
      initrd: lineAt(lines, /Run \/init as init process/),
      userspace: lineAt(lines, /systemd\[1\]: systemd 252/),
      sshd: lineAt(lines, /Started .*ssh\.service/),
      multiUser: lineAt(lines, /multi-user\.target/),
    });
    assert.ok(phases.kernel! < phases.initrd! && phases.initrd! < phases.userspace! && phases.userspace! < phases.sshd!);
  });

  test('a guest booted with no initrd, that took the key box handed over: no initrd phase, and the key line of THIS boot\'s nonce only', async () => {
    const lines = await stamped('debian-12-no-initrd.log');
    const nonce = /machine key installed \(([0-9a-f]+)\)/.exec(lines.map((l) => l.text).join('\n'))![1];
    const phases = bootPhases(lines, 500, {nonce});
    assert.equal(phases.initrd, undefined);
    assert.equal(phases.kernel, lineAt(lines, /Linux version/) - 500, 'counted from QEMU\'s start');
    assert.equal(phases.guestKey, lineAt(lines, new RegExp(guestKeyLine(nonce).replace(/[()]/g, '\\$&'))) - 500);
    assert.ok(phases.userspace! < phases.guestKey! && phases.guestKey! < phases.sshd!, 'the key is in before sshd starts');
    assert.equal(bootPhases(lines, 500, {nonce: '0000000000000000'}).guestKey, undefined, 'another boot\'s line does not count');
    assert.equal(bootPhases(lines, 500).guestKey, undefined, 'nothing handed over: no key phase');
  });

  test('a console that says nothing (a Vagrant box with a quiet GRUB) gives no phases, and no error', () => {
    assert.deepEqual(bootPhases([], 0), {});
    assert.deepEqual(bootPhases([{at: 5, text: '\u001b[2J\u001b[H'}, {at: 6, text: ''}], 0), {});
  });
});

describe('following a serial log', () => {
  test('stamps each complete line when it appears, waits for the end of a partial line, and starts over when the log is truncated', async () => {
    const dir = await tempDir('box-serial-watch-');
    try {
      const log = path.join(dir.dir, 'serial.log');
      await writeFile(log, '');
      const watch = new SerialWatch(log);
      await appendFile(log, 'first\r\nsec');
      const t1 = Date.now();
      await watch.poll();
      assert.deepEqual(watch.lines.map((l) => l.text), ['first\r']);
      assert.ok(watch.lines[0].at >= t1);
      await new Promise((r) => setTimeout(r, 30));
      await appendFile(log, 'ond\n');
      const t2 = Date.now();
      await watch.poll();
      assert.deepEqual(watch.lines.map((l) => l.text), ['first\r', 'second']);
      assert.ok(watch.lines[1].at >= t2, 'stamped when its end appeared');
      await writeFile(log, 'new boot\n'); // QEMU truncates the log when it starts again
      await watch.poll();
      assert.equal(watch.lines.at(-1)!.text, 'new boot');
      assert.equal((await watch.stop()).length, 3);
    } finally {
      await dir.cleanup();
    }
  });

  test('a missing log gives no lines and no error; the timer follows the file by itself', async () => {
    const dir = await tempDir('box-serial-watch-');
    try {
      const log = path.join(dir.dir, 'serial.log');
      const watch = new SerialWatch(log).start();
      await new Promise((r) => setTimeout(r, 250));
      assert.deepEqual(watch.lines, []);
      await writeFile(log, 'Linux version 6.1\n');
      await new Promise((r) => setTimeout(r, 350));
      assert.deepEqual(watch.lines.map((l) => l.text), ['Linux version 6.1'], 'read by the timer, without a poll() call');
      await watch.stop();
    } finally {
      await dir.cleanup();
    }
  });
});
