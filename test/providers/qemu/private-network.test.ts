import assert from 'node:assert/strict';
import {describe, test} from 'node:test';
import {multicastSegment} from '../../../src/providers/qemu/private-network.js';

describe('the qemu private network segment', () => {
  test('each project folder gets its own organisation-local multicast group and port, always the same', () => {
    const a = multicastSegment('/home/me/shop');
    assert.deepEqual(a, multicastSegment('/home/me/shop'));
    const b = multicastSegment('/home/me/blog');
    assert.notDeepEqual(a, b);
    for (const {group, port} of [a, b]) {
      assert.match(group, /^239\.(19[2-5])\.\d+\.\d+$/);
      assert.ok(port >= 20_000 && port < 40_000, String(port));
    }
  });
});
