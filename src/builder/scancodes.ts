/**
 * Key tables for typing boot commands. Keys are named by their QMP `qcode` (what QEMU's
 * `send-key` / `input-send-event` take); VirtualBox's `keyboardputscancode` wants PC/AT
 * set-1 scancodes instead: make code to press, make|0x80 to release, extended keys
 * prefixed with 0xe0 on both.
 */

/** Set-1 make codes; a leading 0xe0 marks an extended key. */
const SET1: Record<string, number[]> = {
  esc: [0x01],
  '1': [0x02], '2': [0x03], '3': [0x04], '4': [0x05], '5': [0x06], '6': [0x07], '7': [0x08], '8': [0x09], '9': [0x0a], '0': [0x0b],
  minus: [0x0c], equal: [0x0d], backspace: [0x0e], tab: [0x0f],
  q: [0x10], w: [0x11], e: [0x12], r: [0x13], t: [0x14], y: [0x15], u: [0x16], i: [0x17], o: [0x18], p: [0x19],
  bracket_left: [0x1a], bracket_right: [0x1b], ret: [0x1c], ctrl: [0x1d],
  a: [0x1e], s: [0x1f], d: [0x20], f: [0x21], g: [0x22], h: [0x23], j: [0x24], k: [0x25], l: [0x26],
  semicolon: [0x27], apostrophe: [0x28], grave_accent: [0x29], shift: [0x2a], backslash: [0x2b],
  z: [0x2c], x: [0x2d], c: [0x2e], v: [0x2f], b: [0x30], n: [0x31], m: [0x32],
  comma: [0x33], dot: [0x34], slash: [0x35], shift_r: [0x36], alt: [0x38], spc: [0x39], caps_lock: [0x3a],
  f1: [0x3b], f2: [0x3c], f3: [0x3d], f4: [0x3e], f5: [0x3f], f6: [0x40], f7: [0x41], f8: [0x42], f9: [0x43], f10: [0x44],
  f11: [0x57], f12: [0x58],
  ctrl_r: [0xe0, 0x1d], alt_r: [0xe0, 0x38], meta_l: [0xe0, 0x5b], meta_r: [0xe0, 0x5c],
  home: [0xe0, 0x47], up: [0xe0, 0x48], pgup: [0xe0, 0x49], left: [0xe0, 0x4b], right: [0xe0, 0x4d],
  end: [0xe0, 0x4f], down: [0xe0, 0x50], pgdn: [0xe0, 0x51], insert: [0xe0, 0x52], delete: [0xe0, 0x53],
};

/** Every qcode box can type. */
export const QCODES: ReadonlySet<string> = new Set(Object.keys(SET1));

/** Printable US-layout characters: the key that types them and whether shift is held. */
const UNSHIFTED: Record<string, string> = {
  ' ': 'spc', '-': 'minus', '=': 'equal', '[': 'bracket_left', ']': 'bracket_right', ';': 'semicolon',
  "'": 'apostrophe', '`': 'grave_accent', '\\': 'backslash', ',': 'comma', '.': 'dot', '/': 'slash',
  '\n': 'ret', '\t': 'tab',
};
const SHIFTED: Record<string, string> = {
  '!': '1', '@': '2', '#': '3', $: '4', '%': '5', '^': '6', '&': '7', '*': '8', '(': '9', ')': '0',
  _: 'minus', '+': 'equal', '{': 'bracket_left', '}': 'bracket_right', ':': 'semicolon', '"': 'apostrophe',
  '~': 'grave_accent', '|': 'backslash', '<': 'comma', '>': 'dot', '?': 'slash',
};

export interface CharKey {
  qcode: string;
  shift: boolean;
}

/** The key (and shift state) that types `char` on a US keyboard, or undefined if none does. */
export function keyForChar(char: string): CharKey | undefined {
  if (/^[a-z0-9]$/.test(char)) return {qcode: char, shift: false};
  if (/^[A-Z]$/.test(char)) return {qcode: char.toLowerCase(), shift: true};
  if (char in UNSHIFTED) return {qcode: UNSHIFTED[char], shift: false};
  if (char in SHIFTED) return {qcode: SHIFTED[char], shift: true};
  return undefined;
}

/** Set-1 make code bytes of a key, e.g. `['1c']` for ret and `['e0', '48']` for up. */
export function makeCodes(qcode: string): string[] {
  const codes = SET1[qcode];
  if (!codes) throw new Error(`no scancode for key "${qcode}"`);
  return codes.map(hex);
}

/** Set-1 break code bytes: the make code with bit 7 set, keeping the 0xe0 prefix. */
export function breakCodes(qcode: string): string[] {
  const codes = SET1[qcode];
  if (!codes) throw new Error(`no scancode for key "${qcode}"`);
  return codes.map((c, i) => (i === codes.length - 1 ? hex(c | 0x80) : hex(c)));
}

function hex(n: number): string {
  return n.toString(16).padStart(2, '0');
}
