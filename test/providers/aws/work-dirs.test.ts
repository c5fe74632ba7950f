import {after, before, describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {spawnSync} from 'node:child_process';
import {existsSync} from 'node:fs';
import {mkdir, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {writeBakeRecord} from '../../../src/providers/aws/bake-records.js';
import {writeTransferRecord} from '../../../src/providers/aws/transfer-records.js';
import {deadWorkDirs, removeDeadWorkDirs, workDirFor} from '../../../src/providers/aws/work-dirs.js';
import {tempDir} from '../../helpers/cli.js';

describe('work folders of killed bakes and transfers', () => {
  let home: {dir: string; cleanup: () => Promise<void>};
  let tmp: {dir: string; cleanup: () => Promise<void>};
  const saved = {home: process.env.BOX_HOME, tmp: process.env.TMPDIR};
  before(async () => {
    home = await tempDir('box-workdirs-home-');
    tmp = await tempDir('box-workdirs-tmp-');
    process.env.BOX_HOME = home.dir;
    process.env.TMPDIR = tmp.dir; // os.tmpdir() follows it
  });
  after(async () => {
    for (const [k, v] of [['BOX_HOME', saved.home], ['TMPDIR', saved.tmp]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await home.cleanup();
    await tmp.cleanup();
  });

  test('only folders of dead records go; a kept bake\'s folder and anything outside the temp dir stay', async () => {
    const dead = spawnSync('true').pid!;
    const folder = async (dir: string) => { await mkdir(dir); await writeFile(path.join(dir, 'bake_ed25519'), 'secret'); return dir; };
    const killed = await folder(workDirFor('bake', 'box-bake-11111111-1111-4111-8111-111111111111'));
    const kept = await folder(workDirFor('bake', 'box-bake-22222222-2222-4222-8222-222222222222'));
    const running = await folder(workDirFor('bake', 'box-bake-33333333-3333-4333-8333-333333333333'));
    const push = await folder(workDirFor('push', 'aaaa'));
    const outside = await folder(path.join(home.dir, 'box-bake-outside'));
    await writeBakeRecord({token: 't-killed', pid: dead, template: 'x', region: 'r', workDir: killed, startedAt: ''});
    await writeBakeRecord({token: 't-kept', pid: dead, template: 'x', region: 'r', workDir: kept, kept: true, startedAt: ''});
    await writeBakeRecord({token: 't-running', pid: process.pid, template: 'x', region: 'r', workDir: running, startedAt: ''});
    await writeBakeRecord({token: 't-tampered', pid: dead, template: 'x', region: 'r', workDir: outside, startedAt: ''});
    await writeTransferRecord({id: 'push-aaaa', pid: dead, kind: 'push', region: 'r', bucket: 'b', workDir: push, startedAt: ''});

    assert.deepEqual((await deadWorkDirs(['bake', 'push'])).map((w) => [path.basename(w.dir), w.kept]).sort(), [[path.basename(killed), false], [path.basename(kept), true], [path.basename(push), false]].sort());
    assert.deepEqual(await removeDeadWorkDirs(['bake']), [killed]);
    assert.deepEqual([killed, kept, running, push, outside].map(existsSync), [false, true, true, true, true]);
    assert.deepEqual(await removeDeadWorkDirs(['push']), [push]);
  });
});
