import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {KNOWN_TAGS, allKeysTypable, parseBootCommand, toScancodeGroups, totalWaitMs, type BootAction} from '../../src/builder/boot-command.js';
import {BoxError} from '../../src/core/errors.js';

const presses = (actions: BootAction[]): string[] => actions.map((a) => (a.kind === 'press' ? [...a.modifiers, a.qcode].join('+') : a.kind === 'hold' ? `${a.qcode}${a.down ? '↓' : '↑'}` : `wait${a.ms}`));

describe('boot command parser', () => {
  test('lowercase letters, digits and unshifted symbols are single key presses', () => {
    assert.deepEqual(presses(parseBootCommand('a9 -=[];\'`\\,./')), ['a', '9', 'spc', 'minus', 'equal', 'bracket_left', 'bracket_right', 'semicolon', 'apostrophe', 'grave_accent', 'backslash', 'comma', 'dot', 'slash']);
  });

  test('uppercase letters and shifted symbols are typed with shift held', () => {
    assert.deepEqual(presses(parseBootCommand('A!@#$%^&*()_+{}:"~|<>?')), [
      'shift+a', 'shift+1', 'shift+2', 'shift+3', 'shift+4', 'shift+5', 'shift+6', 'shift+7', 'shift+8', 'shift+9', 'shift+0',
      'shift+minus', 'shift+equal', 'shift+bracket_left', 'shift+bracket_right', 'shift+semicolon', 'shift+apostrophe',
      'shift+grave_accent', 'shift+backslash', 'shift+comma', 'shift+dot', 'shift+slash',
    ]);
  });

  test('every special key tag maps to its QMP qcode, case-insensitively', () => {
    const cases: Record<string, string> = {
      '<enter>': 'ret', '<return>': 'ret', '<tab>': 'tab', '<esc>': 'esc', '<spacebar>': 'spc', '<bs>': 'backspace', '<del>': 'delete',
      '<insert>': 'insert', '<up>': 'up', '<down>': 'down', '<left>': 'left', '<right>': 'right', '<home>': 'home', '<end>': 'end',
      '<pageUp>': 'pgup', '<pageDown>': 'pgdn', '<ENTER>': 'ret',
    };
    for (let i = 1; i <= 12; i++) cases[`<f${i}>`] = `f${i}`;
    for (const [tag, qcode] of Object.entries(cases)) assert.deepEqual(presses(parseBootCommand(tag)), [qcode], tag);
  });

  test('modifier On/Off tags hold and release the left and right keys', () => {
    assert.deepEqual(presses(parseBootCommand('<leftCtrlOn>c<leftCtrlOff><rightAltOn><rightAltOff><leftShiftOn>x<leftShiftOff><rightCtrlOn><rightCtrlOff><leftAltOn><leftAltOff><rightShiftOn><rightShiftOff><leftSuperOn><leftSuperOff>')), [
      'ctrl↓', 'c', 'ctrl↑', 'alt_r↓', 'alt_r↑', 'shift↓', 'x', 'shift↑', 'ctrl_r↓', 'ctrl_r↑', 'alt↓', 'alt↑', 'shift_r↓', 'shift_r↑', 'meta_l↓', 'meta_l↑',
    ]);
  });

  test('waits: <wait> is one second, <waitN> and <waitNs> seconds, <waitNm> minutes, <waitNh> hours, <waitNms> milliseconds, and Go-style <wait1m30s>', () => {
    const actions = parseBootCommand('<wait><wait5><wait10s><wait2m><wait250ms><wait1h><wait1m30s>');
    assert.deepEqual(presses(actions), ['wait1000', 'wait5000', 'wait10000', 'wait120000', 'wait250', 'wait3600000', 'wait90000']);
    assert.equal(totalWaitMs(actions), 136_250 + 3_600_000 + 90_000);
  });

  test('an unknown tag is an error naming it and its line and column', () => {
    assert.throws(() => parseBootCommand(['install <enter>', 'auto <entr> x']), (error: BoxError) => {
      assert.equal(error.code, 'ERR_BOOT_COMMAND');
      assert.match(error.message, /Unknown key <entr> in boot_command\[1\] at column 6/);
      assert.match(error.hint ?? '', /<enter>/);
      return true;
    });
    assert.throws(() => parseBootCommand('<waitms>'), /Unknown key <waitms> in boot_command at column 1/);
  });

  test('a character no US key types is an error with its position', () => {
    assert.throws(() => parseBootCommand('abcé'), /Cannot type "é" \(boot_command at column 4\)/);
  });

  test('a "<" that does not start a tag is typed literally', () => {
    assert.deepEqual(presses(parseBootCommand('a < b <2')), ['a', 'spc', 'shift+comma', 'spc', 'b', 'spc', 'shift+comma', '2']);
  });

  test('array lines are joined without separators, as Packer does', () => {
    assert.deepEqual(presses(parseBootCommand(['ab', 'c'])), ['a', 'b', 'c']);
  });

  test('the documented tag list is what the parser accepts', () => {
    for (const tag of KNOWN_TAGS.filter((t) => !t.includes('N'))) assert.ok(parseBootCommand(`<${tag}>`).length === 1, tag);
  });

  test('a realistic installer boot command parses to typable keys', () => {
    const actions = parseBootCommand(['<esc><wait>', 'install auto=true url=http://10.0.2.2:8080/preseed.cfg<enter>']);
    assert.ok(allKeysTypable(actions));
    assert.equal(actions.filter((a) => a.kind === 'press').length, 2 + 'install auto=true url=http://10.0.2.2:8080/preseed.cfg'.length);
  });
});

describe('boot command as VirtualBox scancodes', () => {
  test('a key is its make code then its break code (make | 0x80)', () => {
    assert.deepEqual(toScancodeGroups(parseBootCommand('a<enter>')), [{scancodes: ['1e', '9e', '1c', '9c']}]);
  });

  test('shifted characters wrap the key in shift make/break', () => {
    assert.deepEqual(toScancodeGroups(parseBootCommand('A')), [{scancodes: ['2a', '1e', '9e', 'aa']}]);
  });

  test('extended keys keep the e0 prefix on make and break', () => {
    assert.deepEqual(toScancodeGroups(parseBootCommand('<up><del><rightCtrlOn><rightCtrlOff>')), [{scancodes: ['e0', '48', 'e0', 'c8', 'e0', '53', 'e0', 'd3', 'e0', '1d', 'e0', '9d']}]);
  });

  test('waits split the scancodes into separate VBoxManage calls and long text is batched', () => {
    const groups = toScancodeGroups(parseBootCommand('ab<wait2>c'), 4);
    assert.deepEqual(groups, [{scancodes: ['1e', '9e', '30', 'b0']}, {waitMs: 2000}, {scancodes: ['2e', 'ae']}]);
    const long = toScancodeGroups(parseBootCommand('abcdefghij'), 8);
    assert.ok(long.every((g) => 'scancodes' in g && g.scancodes.length <= 8));
    assert.equal(long.flatMap((g) => ('scancodes' in g ? g.scancodes : [])).length, 20);
  });
});
