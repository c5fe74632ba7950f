import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {QCODES, breakCodes, keyForChar, makeCodes} from '../../src/builder/scancodes.js';

describe('scancode tables', () => {
  test('the letter rows have their AT set-1 make codes', () => {
    const rows: Array<[string, number]> = [['qwertyuiop', 0x10], ['asdfghjkl', 0x1e], ['zxcvbnm', 0x2c]];
    for (const [row, first] of rows) {
      [...row].forEach((ch, i) => assert.deepEqual(makeCodes(ch), [(first + i).toString(16).padStart(2, '0')], ch));
    }
  });

  test('digits 1-9 then 0 run from 0x02 to 0x0b', () => {
    [...'1234567890'].forEach((d, i) => assert.deepEqual(makeCodes(d), [(0x02 + i).toString(16).padStart(2, '0')]));
  });

  test('function keys: F1-F10 are 0x3b-0x44, F11 0x57, F12 0x58', () => {
    for (let i = 1; i <= 10; i++) assert.deepEqual(makeCodes(`f${i}`), [(0x3a + i).toString(16)]);
    assert.deepEqual(makeCodes('f11'), ['57']);
    assert.deepEqual(makeCodes('f12'), ['58']);
  });

  test('every key has a break code equal to its make code with bit 7 set', () => {
    for (const qcode of QCODES) {
      const make = makeCodes(qcode);
      const brk = breakCodes(qcode);
      assert.equal(brk.length, make.length, qcode);
      assert.equal(parseInt(brk.at(-1)!, 16), parseInt(make.at(-1)!, 16) | 0x80, qcode);
      if (make.length === 2) assert.equal(make[0], 'e0', `${qcode} is an extended key`);
    }
  });

  test('navigation keys are extended (e0-prefixed) keys', () => {
    for (const k of ['up', 'down', 'left', 'right', 'home', 'end', 'pgup', 'pgdn', 'insert', 'delete', 'ctrl_r', 'alt_r']) {
      assert.equal(makeCodes(k)[0], 'e0', k);
    }
  });

  test('every printable ASCII character maps to a known qcode', () => {
    for (let c = 0x20; c < 0x7f; c++) {
      const key = keyForChar(String.fromCharCode(c));
      assert.ok(key && QCODES.has(key.qcode), `char ${c}`);
    }
    assert.equal(keyForChar('é'), undefined);
  });

  test('an unknown qcode is refused', () => {
    assert.throws(() => makeCodes('nope'), /no scancode for key "nope"/);
  });
});
