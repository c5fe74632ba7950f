import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {PassThrough} from 'node:stream';
import {terminalAsk} from '../../src/builder/on-error.js';
import {silentUi} from '../../src/core/ui.js';

describe('--on-error ask at the terminal', () => {
  const ask = (typed: string | undefined, interactive = true) => {
    const input = new PassThrough();
    const output = new PassThrough();
    let shown = '';
    output.on('data', (d: Buffer) => { shown += d.toString(); });
    const answer = terminalAsk(silentUi(), {input, output, interactive})('boot', new Error('QEMU exited'));
    if (typed === undefined) input.end();
    else input.write(typed);
    return answer.then((choice) => ({choice, shown}));
  };

  test('a and abort keep, c and an empty answer clean up; the question names the step and the error', async () => {
    assert.equal((await ask('a\n')).choice, 'abort');
    assert.equal((await ask('abort\n')).choice, 'abort');
    assert.equal((await ask('c\n')).choice, 'cleanup');
    const {choice, shown} = await ask('\n');
    assert.equal(choice, 'cleanup');
    assert.match(shown, /Step boot failed: QEMU exited/);
    assert.match(shown, /\[c\/a\]/);
  });

  test('an unclear answer is asked again', async () => {
    const {choice, shown} = await ask('maybe\na\n');
    assert.equal(choice, 'abort');
    assert.equal(shown.match(/\[c\/a\]/g)?.length, 2);
  });

  test('a closed stdin and a run without a terminal clean up', async () => {
    assert.equal((await ask(undefined)).choice, 'cleanup');
    assert.equal((await ask('a\n', false)).choice, 'cleanup');
  });
  test('Ctrl-C at the prompt answers cleanup', async () => {
    const controller = new AbortController();
    const answer = terminalAsk(silentUi(), {input: new PassThrough(), output: new PassThrough(), interactive: true, signal: controller.signal})('boot', new Error('x'));
    setTimeout(() => controller.abort(), 50);
    assert.equal(await answer, 'cleanup');
  });
});
