import assert from 'node:assert/strict';
import {execFileSync} from 'node:child_process';
import {describe, test} from 'node:test';
import {buildRemoteCommand, shellQuote} from '../../../src/communicators/ssh/remote-command.js';

// What a guest's shell makes of a command line: run it through a real sh.
const sh = (line: string) => execFileSync('sh', ['-c', line], {encoding: 'utf8'});

describe('shellQuote', () => {
  const awkward = ['', 'plain', 'two words', `it's`, '"double"', '$HOME `id` $(id)', 'back\\slash', 'new\nline', '*', '-n', 'ünïcödé €', `'`, `''`];

  test('every value survives a round trip through sh unchanged', () => {
    for (const value of awkward) assert.equal(sh(`printf '%s' ${shellQuote(value)}`), value, JSON.stringify(value));
  });

  test('safe values are left bare and others are single-quoted', () => {
    assert.equal(shellQuote('/tmp/a-b_c.sh'), '/tmp/a-b_c.sh');
    assert.equal(shellQuote('a b'), `'a b'`);
    assert.equal(shellQuote(''), `''`);
  });
});

describe('buildRemoteCommand', () => {
  test('a plain command is sent as it is', () => {
    assert.equal(buildRemoteCommand('uname -a'), 'uname -a');
  });

  test('sudo wraps the command in sudo -n sh -c', () => {
    assert.equal(buildRemoteCommand('echo "$1" | cat', {sudo: true}), `sudo -n sh -c 'echo "$1" | cat'`);
  });

  test('environment values reach the command verbatim through env', () => {
    const line = buildRemoteCommand('printf "%s|%s" "$A" "$B"', {env: {A: `x'y "z" $HOME`, B: 'multi\nline'}});
    assert.match(line, /^env A=/);
    assert.equal(sh(line), `x'y "z" $HOME|multi\nline`);
  });

  test('an environment name that is not a shell identifier is refused', () => {
    for (const name of ['1A', 'A-B', 'A B', 'A;rm', '']) {
      assert.throws(() => buildRemoteCommand('true', {env: {[name]: 'x'}}), {code: 'ERR_SSH_BAD_ENV'}, name);
    }
  });
});
