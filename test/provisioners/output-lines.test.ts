import assert from 'node:assert/strict';
import {describe, test} from 'node:test';
import {OutputLines} from '../../src/provisioners/output-lines.js';

describe('OutputLines', () => {
  test('chunks are joined into whole lines per stream, without splicing stdout into stderr', () => {
    const seen: string[] = [];
    const lines = new OutputLines((line, stream) => seen.push(`${stream}:${line}`));
    lines.push('stdout', 'hel');
    lines.push('stderr', 'warn');
    lines.push('stdout', 'lo\nwor');
    lines.push('stderr', 'ing\r\n');
    lines.push('stdout', 'ld');
    assert.deepEqual(seen, ['stdout:hello', 'stderr:warning']);
    lines.flush();
    assert.deepEqual(seen, ['stdout:hello', 'stderr:warning', 'stdout:world']);
  });

  test('the tail keeps the last lines of both streams in arrival order', () => {
    const lines = new OutputLines(() => undefined, 3);
    for (let i = 1; i <= 5; i++) lines.push(i % 2 ? 'stdout' : 'stderr', `line ${i}\n`);
    assert.deepEqual(lines.tail(), ['line 3', 'line 4', 'line 5']);
  });
});
