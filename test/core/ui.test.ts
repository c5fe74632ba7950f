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

describe('Ui byte progress (cli-progress)', () => {
  const sink = (isTTY: boolean) => {
    const out: string[] = [];
    return {out, stream: {isTTY, columns: 120, write: (t: string) => out.push(t)} as unknown as NodeJS.WriteStream};
  };

  test('not a TTY: nothing is drawn, done prints one summary line with bytes and speed', () => {
    const {out, stream} = sink(false);
    const progress = new Ui({stream}).progress('download os.iso');
    progress.update({transferred: 1024 * 1024, total: 4 * 1024 * 1024});
    progress.update({transferred: 2 * 1024 * 1024, total: 4 * 1024 * 1024});
    assert.deepEqual(out, []);
    progress.done();
    assert.equal(out.length, 1);
    assert.match(out[0], /^download os\.iso 2\.0 MiB in \d+\.\d s \([\d.]+ [KMG]?i?B\/s\)\n$/);
  });

  test('a TTY: a bar with the stage, percentage, bytes, speed and ETA; a line printed meanwhile goes above it; done leaves only the summary', () => {
    const {out, stream} = sink(true);
    const ui = new Ui({stream});
    const progress = ui.progress('download os.iso');
    progress.update({transferred: 1024 * 1024, total: 4 * 1024 * 1024});
    const drawn = out.join('');
    assert.match(drawn, /download os\.iso \[[^\]]{20}\]  25% 1\.0 MiB\/4\.0 MiB [\d.]+ [KMG]?i?B\/s ETA \d+ s/);
    out.length = 0;
    ui.info('mirror is slow');
    assert.equal(out[0], '\r\u001B[2K', 'the bar line is cleared before the message');
    assert.equal(out[1], 'mirror is slow\n');
    out.length = 0;
    progress.update({transferred: 4 * 1024 * 1024});
    progress.done('download os.iso 4.0 MiB');
    assert.equal(out.at(-1), 'download os.iso 4.0 MiB\n');
    // No bar is left to clear: a later line is written as is.
    out.length = 0;
    ui.info('next');
    assert.deepEqual(out, ['next\n']);
  });

  test('quiet (--json): nothing is drawn even on a TTY', () => {
    const {out, stream} = sink(true);
    const progress = new Ui({stream, quiet: true}).progress('upload');
    progress.update({transferred: 10, total: 100});
    assert.deepEqual(out, []);
  });
});
