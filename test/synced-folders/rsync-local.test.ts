/**
 * rsync folders against a real local sshd (root, as the tests run): the same rsync command line,
 * ssh options, guest script and owner handling as against a guest, seconds instead of a boot.
 * The real guest is test/e2e/rsync-folders.e2e.test.ts.
 */
import assert from 'node:assert/strict';
import {execFileSync} from 'node:child_process';
import {existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import type {SyncedFolder} from '../../src/boxfile/project.js';
import {SshCommunicator} from '../../src/communicators/ssh/ssh-communicator.js';
import {BoxError} from '../../src/core/errors.js';
import {prepareGuestForRsync} from '../../src/synced-folders/guest-rsync.js';
import {checkHostRsync, rsyncJob, runRsync, withRsyncWorkDir} from '../../src/synced-folders/rsync-folders.js';
import {createSshd, type Sshd} from '../fixtures/sshd/sshd.js';
import {tempDir} from '../helpers/cli.js';

function write(root: string, files: Record<string, string>): void {
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, file)), {recursive: true});
    writeFileSync(path.join(root, file), text);
  }
}

describe('rsync folders over real ssh', () => {
  let sshd: Sshd;
  let work: Awaited<ReturnType<typeof tempDir>>;
  let info: {host: string; port: number; username: string; privateKeyPath: string};
  let comm: SshCommunicator;
  const signal = new AbortController().signal;

  before(async () => {
    sshd = await createSshd();
    work = await tempDir('box-rsync-local-');
    info = {host: sshd.host, port: sshd.port, username: sshd.username, privateKeyPath: path.join(work.dir, 'id')};
    writeFileSync(info.privateKeyPath, sshd.key.privateKey, {mode: 0o600});
    comm = await SshCommunicator.fromSshInfo(info);
    await comm.waitForReady(10_000, signal);
  });
  after(async () => {
    await comm?.close();
    await sshd?.stop();
    await work?.cleanup();
  });

  /** Syncs `folder` as `box rsync` does (guest prepared, owner resolved) and returns the stats. */
  async function sync(folder: SyncedFolder, projectRoot: string) {
    const [owner] = await prepareGuestForRsync(comm, 'local', [folder.destination], [folder], {signal});
    return withRsyncWorkDir(async (dir) => runRsync(await rsyncJob(folder, projectRoot, owner!, dir, 0, signal), info, {signal}));
  }
  const folder = (source: string, destination: string, more: Partial<SyncedFolder> = {}): SyncedFolder => ({source, destination, type: 'rsync', exclude: [], gitignore: false, ...more});

  test('copies the folder, never the project\'s .box/, and leaves out excluded files', async () => {
    const project = path.join(work.dir, 'p1');
    write(project, {'Boxfile': 'x', 'src/a.txt': 'a', 'src/deep/b.txt': 'b', 'debug.log': 'l', 'src/deep/trace.log': 't', 'build/out.bin': 'o', 'src/build/kept.txt': 'k', '.box/machines/web/state.json': '{}'});
    const dest = path.join(work.dir, 'g1');
    const stats = await sync(folder(project, dest, {exclude: ['*.log', '/build/']}), project);
    assert.equal(readFileSync(path.join(dest, 'src/deep/b.txt'), 'utf8'), 'b');
    assert.ok(!existsSync(path.join(dest, '.box')), '.box/ must never be copied');
    assert.ok(!existsSync(path.join(dest, 'debug.log')) && !existsSync(path.join(dest, 'src/deep/trace.log')), '*.log excluded at every depth');
    assert.ok(!existsSync(path.join(dest, 'build')), '/build/ excluded at the top');
    assert.ok(existsSync(path.join(dest, 'src/build/kept.txt')), 'an anchored exclude does not match deeper');
    assert.equal(stats.filesTransferred, 4, JSON.stringify(stats));
  });

  test('a file removed on the host is deleted in the guest; an excluded file there is left alone', async () => {
    const project = path.join(work.dir, 'p2');
    write(project, {'keep.txt': 'k', 'gone.txt': 'g', 'sub/gone-too.txt': 'g'});
    const dest = path.join(work.dir, 'g2');
    await sync(folder(project, dest, {exclude: ['node_modules/']}), project);
    write(dest, {'node_modules/built-in-guest.js': 'x'});
    rmSync(path.join(project, 'gone.txt'));
    rmSync(path.join(project, 'sub'), {recursive: true});
    const stats = await sync(folder(project, dest, {exclude: ['node_modules/']}), project);
    assert.ok(!existsSync(path.join(dest, 'gone.txt')) && !existsSync(path.join(dest, 'sub')));
    assert.ok(existsSync(path.join(dest, 'keep.txt')));
    assert.ok(existsSync(path.join(dest, 'node_modules/built-in-guest.js')), 'excluded files in the guest are not the host\'s to delete');
    assert.equal(stats.filesDeleted, 3, JSON.stringify(stats)); // gone.txt, sub/gone-too.txt and sub/
    assert.equal(stats.filesTransferred, 0);
  });

  test('gitignore: true leaves out what git ignores, nested .gitignore files, negations and anchoring as git reads them', async () => {
    const project = path.join(work.dir, 'p3');
    write(project, {
      '.gitignore': '*.log\n!important.log\ndocs/*.tmp\nnode_modules/\n',
      'important.log': 'i', 'noise.log': 'n', 'app.js': 'a',
      'docs/draft.tmp': 'd', 'x/docs/kept.tmp': 'k',
      'node_modules/pkg/index.js': 'p',
      'sub/.gitignore': 'local.txt\n', 'sub/local.txt': 'l', 'local.txt': 'top',
      'tracked.log': 't',
    });
    execFileSync('git', ['init', '-q', project]);
    // A tracked file stays copied even when a pattern matches it (git does not ignore it either).
    execFileSync('git', ['-C', project, 'add', '-f', 'tracked.log']);
    const dest = path.join(work.dir, 'g3');
    await sync(folder(project, dest, {gitignore: true}), project);
    const has = (f: string) => existsSync(path.join(dest, f));
    assert.ok(has('app.js') && has('important.log') && has('tracked.log') && has('local.txt') && has('x/docs/kept.tmp') && has('sub/.gitignore'));
    assert.ok(!has('noise.log'), '*.log ignored');
    assert.ok(!has('docs/draft.tmp'), 'docs/*.tmp ignored at the top');
    assert.ok(!has('node_modules'), 'an ignored folder is left out whole');
    assert.ok(!has('sub/local.txt'), 'a nested .gitignore ignores in its own folder');
  });

  test('gitignore: true outside a git work tree falls back to rsync\'s reading of the .gitignore files', async () => {
    const project = path.join(work.dir, 'p4');
    write(project, {'.gitignore': '*.log\n', 'a.log': 'l', 'sub/b.log': 'l', 'sub/c.txt': 'c'});
    const dest = path.join(work.dir, 'g4');
    await sync(folder(project, dest, {gitignore: true}), project);
    assert.ok(existsSync(path.join(dest, 'sub/c.txt')));
    assert.ok(!existsSync(path.join(dest, 'a.log')) && !existsSync(path.join(dest, 'sub/b.log')));
  });

  test('owner and group are applied; the default is the SSH user and its primary group', async () => {
    const project = path.join(work.dir, 'p5');
    write(project, {'f.txt': 'f', 'd/g.txt': 'g'});
    const dest = path.join(work.dir, 'g5');
    await sync(folder(project, dest, {owner: 'nobody', group: 'nogroup'}), project);
    const nobody = Number(execFileSync('id', ['-u', 'nobody'], {encoding: 'utf8'}).trim());
    const nogroup = Number(execFileSync('getent', ['group', 'nogroup'], {encoding: 'utf8'}).split(':')[2]);
    for (const f of ['f.txt', 'd/g.txt', 'd']) {
      const st = statSync(path.join(dest, f));
      assert.deepEqual([st.uid, st.gid], [nobody, nogroup], f);
    }
    const [resolved] = await prepareGuestForRsync(comm, 'local', [dest], [{}], {signal});
    assert.deepEqual(resolved, {owner: os.userInfo().username, group: execFileSync('id', ['-gn'], {encoding: 'utf8'}).trim()});
    await sync(folder(project, dest), project);
    assert.equal(statSync(path.join(dest, 'f.txt')).uid, process.getuid!());
  });

  test('an owner or group the guest lacks is a clear error naming it', async () => {
    const dest = path.join(work.dir, 'g6');
    await assert.rejects(prepareGuestForRsync(comm, 'web', [dest], [{owner: 'no-such-user-x'}], {signal}), (e: unknown) => e instanceof BoxError && e.code === 'ERR_RSYNC_OWNER' && /owner no-such-user-x does not exist in web/.test(e.message));
    await assert.rejects(prepareGuestForRsync(comm, 'web', [dest], [{group: 'no-such-group-x'}], {signal}), (e: unknown) => e instanceof BoxError && e.code === 'ERR_RSYNC_OWNER' && /group no-such-group-x/.test(e.message));
    assert.ok(existsSync(dest), 'the destination is made');
  });

  test('no rsync on the host is a clear error with an install hint', async () => {
    const empty = path.join(work.dir, 'empty-bin');
    mkdirSync(empty, {recursive: true});
    const saved = process.env.PATH;
    process.env.PATH = empty;
    try {
      await assert.rejects(checkHostRsync(), (e: unknown) => e instanceof BoxError && e.code === 'ERR_RSYNC_MISSING' && /rsync is not installed/.test(e.message) && /apt-get install rsync/.test(e.hint ?? ''));
    } finally {
      process.env.PATH = saved;
    }
  });
});
