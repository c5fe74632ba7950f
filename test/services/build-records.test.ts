import assert from 'node:assert/strict';
import {execa} from 'execa';
import {spawnSync} from 'node:child_process';
import {existsSync, mkdirSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {silentUi} from '../../src/core/ui.js';
import {removeDeadBuilds, writeBuildRecord} from '../../src/services/build-records.js';
import {tempDir} from '../helpers/cli.js';

describe('records of builds in progress', () => {
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  const saved = process.env.BOX_HOME;
  before(async () => {
    tmp = await tempDir('box-build-records-');
    process.env.BOX_HOME = path.join(tmp.dir, 'home');
  });
  after(async () => {
    if (saved === undefined) delete process.env.BOX_HOME;
    else process.env.BOX_HOME = saved;
    await tmp.cleanup();
  });

  test('what a build killed with -9 left (work folder, a process working in it, the partial box) is removed; a live build is left alone', async () => {
    const dead = spawnSync('true');
    const workDir = path.join(tmp.dir, 'box-build-x-dead');
    mkdirSync(workDir);
    writeFileSync(path.join(workDir, 'disk.qcow2'), 'disk');
    const boxPath = path.join(tmp.dir, 'x.box');
    writeFileSync(`${boxPath}.partial`, 'half');
    // Stands for the build VM the killed build started: it works in the work folder.
    const orphan = execa('sleep', ['300'], {cwd: workDir, reject: false});
    await writeBuildRecord({id: 'dead', pid: dead.pid!, template: 'x', workDir, boxPath, startedAt: new Date().toISOString()});
    const liveDir = path.join(tmp.dir, 'box-build-x-live');
    mkdirSync(liveDir);
    await writeBuildRecord({id: 'live', pid: process.pid, template: 'x', workDir: liveDir, boxPath, startedAt: new Date().toISOString()});

    await removeDeadBuilds(silentUi());
    const exited = await orphan;
    assert.equal(exited.signal, 'SIGKILL', 'the process working in the dead build\'s folder was stopped');
    assert.equal(existsSync(workDir), false);
    assert.equal(existsSync(`${boxPath}.partial`), false);
    assert.equal(existsSync(path.join(process.env.BOX_HOME!, 'builds', 'dead.json')), false);
    assert.equal(existsSync(liveDir), true, 'a build that still runs keeps its folder');
    assert.equal(existsSync(path.join(process.env.BOX_HOME!, 'builds', 'live.json')), true);
  });
});
