import assert from 'node:assert/strict';
import {readFile, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {describe, test} from 'node:test';
import {execa} from 'execa';
import {HOSTS_BEGIN, HOSTS_END, hostsBlockScript} from '../../../src/providers/shared/private-network-scripts.js';
import {tempDir} from '../../helpers/cli.js';

// The hosts script run by the host's sh on a file of its own (the guest runs the same text as root on /etc/hosts).
async function writeBlock(file: string, lines: string): Promise<string> {
  await execa('sh', ['-ec', hostsBlockScript, 'sh', lines, file]);
  return readFile(file, 'utf8');
}

describe('box\'s block of /etc/hosts', () => {
  test('is appended once, replaced on the next run, and the rest of the file is kept', async () => {
    const dir = await tempDir('box-hosts-');
    try {
      const file = path.join(dir.dir, 'hosts');
      const original = '127.0.0.1\tlocalhost\n127.0.1.1\tweb\n::1 localhost ip6-localhost\n';
      await writeFile(file, original);
      const first = await writeBlock(file, '10.1.2.10 web web.shop');
      assert.equal(first, `${original}${HOSTS_BEGIN}\n10.1.2.10 web web.shop\n${HOSTS_END}\n`);
      assert.equal(await writeBlock(file, '10.1.2.10 web web.shop'), first, 'the same block again: no change');
      const second = await writeBlock(file, '10.1.2.10 web web.shop\n10.1.2.20 db db.shop');
      assert.equal(second, `${original}${HOSTS_BEGIN}\n10.1.2.10 web web.shop\n10.1.2.20 db db.shop\n${HOSTS_END}\n`);
      // A line the user adds after box's block stays.
      await writeFile(file, `${second}192.168.1.5 nas\n`);
      assert.equal(await writeBlock(file, '10.1.2.20 db db.shop'), `${original}192.168.1.5 nas\n${HOSTS_BEGIN}\n10.1.2.20 db db.shop\n${HOSTS_END}\n`);
    } finally {
      await dir.cleanup();
    }
  });
});
