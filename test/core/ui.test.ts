import assert from 'node:assert/strict';
import diagnosticsChannel from 'node:diagnostics_channel';
import {describe, test} from 'node:test';
import {STAGE_CHANNEL, Ui, type StageMessage} from '../../src/core/ui.js';

describe('Ui stages', () => {
  test('every stage is published on the box:stage diagnostics channel after its line is written', () => {
    const lines: string[] = [];
    const ui = new Ui({stream: {isTTY: false, write: (t: string) => lines.push(t)} as unknown as NodeJS.WriteStream});
    const seen: Array<StageMessage & {linesBefore: number}> = [];
    const listener = (message: unknown) => seen.push({...(message as StageMessage), linesBefore: lines.length});
    diagnosticsChannel.subscribe(STAGE_CHANNEL, listener);
    try {
      ui.stage('boot', '2 cpu');
      ui.stage('wait-for-ssh');
    } finally {
      diagnosticsChannel.unsubscribe(STAGE_CHANNEL, listener);
    }
    assert.deepEqual(seen, [{name: 'boot', detail: '2 cpu', linesBefore: 1}, {name: 'wait-for-ssh', detail: '', linesBefore: 2}]);
    assert.equal(STAGE_CHANNEL, 'box:stage');
  });
});
