import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import {execa, type ResultPromise} from 'execa';
import {parseBootCommand} from '../../src/builder/boot-command.js';
import {typeOverQmp} from '../../src/builder/qmp-keys.js';
import {QCODES} from '../../src/builder/scancodes.js';
import {QmpClient} from '../../src/providers/qemu/qmp.js';
import {tempDir} from '../helpers/cli.js';

/** Typing against a real, guest-less QEMU (the BIOS finds nothing to boot): QEMU itself validates every qcode we send. */
describe('typing boot commands over QMP', () => {
  let tmp: {dir: string; cleanup: () => Promise<void>};
  let qemu: ResultPromise;
  let qmp: QmpClient;

  before(async () => {
    tmp = await tempDir('box-qmp-keys-');
    const socket = path.join(tmp.dir, 'qmp.sock');
    qemu = execa('qemu-system-x86_64', ['-machine', 'pc', '-accel', 'tcg', '-m', '64', '-display', 'none', '-nodefaults', '-qmp', `unix:${socket},server=on,wait=off`], {reject: false});
    for (let i = 0; ; i++) {
      try {
        qmp = await QmpClient.connect(socket, 2000);
        break;
      } catch (error) {
        if (i > 50) throw error;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  });

  after(async () => {
    qmp?.close();
    qemu.kill('SIGKILL');
    await qemu;
    await tmp.cleanup();
  });

  test('QEMU accepts every qcode in the key table', async () => {
    for (const qcode of QCODES) await qmp.execute('send-key', {keys: [{type: 'qcode', data: qcode}], 'hold-time': 1});
  });

  test('a whole boot command is sent as send-key presses and input-send-event holds, with the key interval between keys', async () => {
    const sent: Array<{command: string; args?: Record<string, unknown>}> = [];
    const recording = {execute: async (command: string, args?: Record<string, unknown>) => {
      sent.push({command, args});
      return qmp.execute(command, args);
    }};
    const actions = parseBootCommand('Ab<leftCtrlOn>c<leftCtrlOff><wait100ms><enter>');
    const t0 = Date.now();
    await typeOverQmp(recording, actions, {keyIntervalMs: 15});
    const elapsed = Date.now() - t0;
    assert.deepEqual(sent.map((s) => s.command), ['send-key', 'send-key', 'input-send-event', 'send-key', 'input-send-event', 'send-key']);
    assert.deepEqual(sent[0].args?.keys, [{type: 'qcode', data: 'shift'}, {type: 'qcode', data: 'a'}]);
    assert.deepEqual(sent[2].args?.events, [{type: 'key', data: {down: true, key: {type: 'qcode', data: 'ctrl'}}}]);
    assert.ok(elapsed >= 100 + 6 * 15, `waits and key intervals were honoured (${elapsed} ms)`);
  });

  test('typing stops at once when the build is cancelled', async () => {
    const controller = new AbortController();
    const typing = typeOverQmp(qmp, parseBootCommand('<wait5m>x'), {keyIntervalMs: 0, signal: controller.signal});
    setTimeout(() => controller.abort(), 50);
    await assert.rejects(typing, {code: 'ERR_INTERRUPTED'});
  });
});
