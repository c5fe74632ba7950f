import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {printable, printableLine, quoted} from '../../src/core/printable.js';

describe('text from outside is printed without control characters', () => {
  test('ESC, BEL, CR, backspace, DEL, C1 codes and bidi overrides are escaped; newlines and tabs stay', () => {
    assert.equal(printable('a\u001b[2Jb\u0007c\rd\be\u007ff\u009bg\u202eh\n\ti'), 'a\\x1b[2Jb\\x07c\\x0dd\\x08e\\x7ff\\x9bg\\u202eh\n\ti');
    assert.equal(printable('plain text, ünïcödé ✔'), 'plain text, ünïcödé ✔');
  });

  test('one-line forms escape newlines and tabs; quoted cuts long text and escapes quotes', () => {
    assert.equal(printableLine('a\nb\tc'), 'a\\nb\\tc');
    assert.equal(quoted('say "hi"\n'), '"say \\"hi\\"\\n"');
    assert.equal(quoted('x'.repeat(100), 10), `"${'x'.repeat(10)}…"`);
  });
});
