import {UsageError} from '../core/errors.js';
import {QCODES, breakCodes, keyForChar, makeCodes} from './scancodes.js';

/**
 * The boot command key language (the one Packer and veewee users know): literal text plus
 * `<tags>` for special keys, held modifiers and waits. Template variables such as
 * `{{httpIp}}` are substituted by handlebars before parsing (see render.ts), so the parser
 * only sees keys.
 */
export type BootAction =
  /** Press and release `qcode`, holding `modifiers` (qcodes) around it. */
  | {kind: 'press'; qcode: string; modifiers: string[]; text: string}
  /** Press (`down`) or release a key and keep it that way (`<leftCtrlOn>` / `<leftCtrlOff>`). */
  | {kind: 'hold'; qcode: string; down: boolean; text: string}
  | {kind: 'wait'; ms: number; text: string};

const SPECIAL: Record<string, string> = {
  enter: 'ret', return: 'ret', tab: 'tab', esc: 'esc', spacebar: 'spc', bs: 'backspace', del: 'delete',
  insert: 'insert', up: 'up', down: 'down', left: 'left', right: 'right', home: 'home', end: 'end',
  pageup: 'pgup', pagedown: 'pgdn',
  ...Object.fromEntries(Array.from({length: 12}, (_, i) => [`f${i + 1}`, `f${i + 1}`])),
};

const MODIFIERS: Record<string, string> = {
  leftctrl: 'ctrl', rightctrl: 'ctrl_r', leftalt: 'alt', rightalt: 'alt_r',
  leftshift: 'shift', rightshift: 'shift_r', leftsuper: 'meta_l', rightsuper: 'meta_r',
};

/** Tags that look like `<word>`; a `<` that starts anything else is typed literally. */
const TAG = /^<([A-Za-z][A-Za-z0-9]*)>/;

export const KNOWN_TAGS = [
  ...Object.keys(SPECIAL), 'wait', 'waitN', 'waitNs', 'waitNm', 'waitNh', 'waitNms', 'wait1m30s',
  ...Object.keys(MODIFIERS).flatMap((m) => [`${m}On`, `${m}Off`]),
];

/**
 * Parses a boot command (lines are joined as given: put `<enter>` where a newline is meant).
 * Throws a UsageError naming the line, column and tag for anything it cannot type.
 */
export function parseBootCommand(command: string | readonly string[], where = 'boot_command'): BootAction[] {
  const lines = typeof command === 'string' ? [command] : command;
  const actions: BootAction[] = [];
  lines.forEach((line, lineIndex) => {
    let i = 0;
    while (i < line.length) {
      const position = `${where}${lines.length > 1 ? `[${lineIndex}]` : ''} at column ${i + 1}`;
      const tag = TAG.exec(line.slice(i));
      if (tag) {
        actions.push(parseTag(tag[1], tag[0], position));
        i += tag[0].length;
        continue;
      }
      const char = line[i];
      const key = keyForChar(char);
      if (!key) {
        throw new UsageError('ERR_BOOT_COMMAND', `Cannot type ${JSON.stringify(char)} (${position}): it has no key on a US keyboard.`, {
          hint: 'Use plain ASCII in boot_command, or special keys such as <enter> and <tab>.',
        });
      }
      actions.push({kind: 'press', qcode: key.qcode, modifiers: key.shift ? ['shift'] : [], text: char});
      i++;
    }
  });
  return actions;
}

function parseTag(name: string, text: string, position: string): BootAction {
  const lower = name.toLowerCase();
  if (lower in SPECIAL) return {kind: 'press', qcode: SPECIAL[lower], modifiers: [], text};
  // <wait> (1 s), <waitN> (seconds), or Go-style durations as Packer takes them: <wait1m30s>, <wait1h>, <wait250ms>.
  const wait = /^wait(\d+|(?:\d+(?:ms|h|m|s))+)?$/.exec(lower);
  if (wait) {
    if (wait[1] === undefined) return {kind: 'wait', ms: 1000, text};
    if (/^\d+$/.test(wait[1])) return {kind: 'wait', ms: Number(wait[1]) * 1000, text};
    const unitMs: Record<string, number> = {ms: 1, s: 1000, m: 60_000, h: 3_600_000};
    let ms = 0;
    for (const part of wait[1].matchAll(/(\d+)(ms|h|m|s)/g)) ms += Number(part[1]) * unitMs[part[2]];
    return {kind: 'wait', ms, text};
  }
  const hold = /^(left|right)(ctrl|alt|shift|super)(on|off)$/.exec(lower);
  if (hold) return {kind: 'hold', qcode: MODIFIERS[hold[1] + hold[2]], down: hold[3] === 'on', text};
  return unknownTag(text, position);
}

function unknownTag(text: string, position: string): never {
  throw new UsageError('ERR_BOOT_COMMAND', `Unknown key ${text} in ${position}.`, {
    hint: `Known keys: ${KNOWN_TAGS.map((t) => `<${t}>`).join(' ')}. To type a literal "<", follow it with a space or a non-letter.`,
  });
}

/** Total time the waits of a boot command take, for plans and timeouts. */
export function totalWaitMs(actions: readonly BootAction[]): number {
  return actions.reduce((sum, a) => sum + (a.kind === 'wait' ? a.ms : 0), 0);
}

/** One `VBoxManage controlvm NAME keyboardputscancode ...` call, or a pause between calls. */
export type ScancodeGroup = {scancodes: string[]} | {waitMs: number};

/**
 * Translates actions to set-1 scancodes for VirtualBox. Consecutive keys are batched into
 * groups of at most `maxPerGroup` codes (VBoxManage takes many per call; small batches keep
 * the guest's keyboard buffer from overflowing).
 */
export function toScancodeGroups(actions: readonly BootAction[], maxPerGroup = 32): ScancodeGroup[] {
  const groups: ScancodeGroup[] = [];
  let current: string[] = [];
  const flush = (): void => {
    if (current.length > 0) groups.push({scancodes: current});
    current = [];
  };
  for (const action of actions) {
    if (action.kind === 'wait') {
      flush();
      groups.push({waitMs: action.ms});
      continue;
    }
    let codes: string[];
    if (action.kind === 'hold') {
      codes = action.down ? makeCodes(action.qcode) : breakCodes(action.qcode);
    } else {
      codes = [
        ...action.modifiers.flatMap((m) => makeCodes(m)),
        ...makeCodes(action.qcode),
        ...breakCodes(action.qcode),
        ...[...action.modifiers].reverse().flatMap((m) => breakCodes(m)),
      ];
    }
    if (current.length + codes.length > maxPerGroup) flush();
    current.push(...codes);
  }
  flush();
  return groups;
}

/** Sanity check used by tests: every key the parser can emit has a scancode. */
export function allKeysTypable(actions: readonly BootAction[]): boolean {
  return actions.every((a) => a.kind === 'wait' || (QCODES.has(a.qcode) && (a.kind === 'hold' || a.modifiers.every((m) => QCODES.has(m)))));
}
