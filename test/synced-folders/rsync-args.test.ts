import assert from 'node:assert/strict';
import {describe, test} from 'node:test';
import {BoxError} from '../../src/core/errors.js';
import {anchoredPattern, rsyncArgs, rsyncShellWord, rsyncSshCommand, type RsyncJob} from '../../src/synced-folders/rsync-args.js';
import {parseRsyncStats} from '../../src/synced-folders/rsync-stats.js';
import {stateDirRules} from '../../src/synced-folders/rsync-folders.js';

const info = {host: '127.0.0.1', port: 2222, username: 'vagrant', privateKeyPath: '/home/me/.box/machines/web/id_ed25519'};
const job: RsyncJob = {source: '/p/app/', destination: '/srv/app', exclude: ['*.log', '/build/'], alwaysExclude: ['/.box/'], owner: 'www-data', group: 'www-data'};

describe('rsync arguments', () => {
  test('copy the folder\'s contents into the destination over the machine\'s ssh, deleting what the host removed', () => {
    const args = rsyncArgs(job, info);
    assert.deepEqual(args.slice(-2), ['/p/app/', 'vagrant@127.0.0.1:/srv/app']);
    for (const flag of ['--archive', '--delete', '--stats', '--rsync-path=sudo -n rsync']) assert.ok(args.includes(flag), flag);
    const e = args[args.indexOf('-e') + 1]!;
    assert.match(e, /^ssh -F \/dev\/null /);
    for (const part of ['-i /home/me/.box/machines/web/id_ed25519', '-p 2222', 'StrictHostKeyChecking=no', 'UserKnownHostsFile=/dev/null', 'IdentitiesOnly=yes', 'BatchMode=yes']) assert.ok(e.includes(part), part);
  });

  test('owner and group become --chown', () => {
    assert.ok(rsyncArgs(job, info).includes('--chown=www-data:www-data'));
    assert.ok(rsyncArgs({...job, owner: 'vagrant', group: 'staff'}, info).includes('--chown=vagrant:staff'));
  });

  test('.box/ and the Boxfile\'s excludes are exclude rules, .box/ first', () => {
    const args = rsyncArgs(job, info).filter((a) => a.startsWith('--exclude='));
    assert.deepEqual(args, ['--exclude=/.box/', '--exclude=*.log', '--exclude=/build/']);
  });

  test('gitignore: a merge file of git\'s answer, or rsync\'s dir-merge of .gitignore files', () => {
    const merged = rsyncArgs({...job, gitignore: {mergeFile: '/tmp/x/rules'}}, info);
    assert.ok(merged.includes('--from0') && merged.includes('--filter=merge /tmp/x/rules'));
    assert.ok(rsyncArgs({...job, gitignore: 'dir-merge'}, info).includes('--filter=:- .gitignore'));
    assert.ok(!rsyncArgs(job, info).some((a) => a.startsWith('--filter')));
  });

  test('an IPv6 guest address is bracketed', () => {
    assert.equal(rsyncArgs(job, {...info, host: '::1'}).at(-1), 'vagrant@[::1]:/srv/app');
  });

  test('the ssh command quotes words with spaces the way rsync splits them (no backslashes)', () => {
    assert.equal(rsyncShellWord('plain/path'), 'plain/path');
    assert.equal(rsyncShellWord('/home/my box/key'), "'/home/my box/key'");
    assert.equal(rsyncShellWord("it's"), '"it\'s"');
    assert.throws(() => rsyncShellWord(`a'b"c`), (e: unknown) => e instanceof BoxError && e.code === 'ERR_RSYNC_ARGS');
    assert.match(rsyncSshCommand({...info, privateKeyPath: '/a b/key'}), / -i '\/a b\/key' /);
  });

  test('an anchored pattern escapes rsync wildcards in a literal name', () => {
    assert.equal(anchoredPattern('src/a*b[1]?.txt', false), '/src/a\\*b\\[1]\\?.txt');
    assert.equal(anchoredPattern('node_modules', true), '/node_modules/');
  });

  test('.box/ is excluded where the folder holds the project, and not for a folder beside it', () => {
    assert.deepEqual(stateDirRules('/p', '/p'), ['/.box/']);
    assert.deepEqual(stateDirRules('/', '/p'), ['/p/.box/']);
    assert.deepEqual(stateDirRules('/p/src', '/p'), []);
    assert.deepEqual(stateDirRules('/other', '/p'), []);
  });
});

describe('rsync --stats', () => {
  test('files sent, deleted and bytes come from the summary, thousands separators and all', () => {
    const out = [
      'Number of files: 10,001 (reg: 10,000, dir: 1)',
      'Number of created files: 10,000 (reg: 10,000)',
      'Number of deleted files: 3 (reg: 3)',
      'Number of regular files transferred: 10,000',
      'Total file size: 48,890 bytes',
      'Total transferred file size: 48,890 bytes',
      'Total bytes sent: 1,234,567',
      'Total bytes received: 190,042',
    ].join('\n');
    assert.deepEqual(parseRsyncStats(out), {filesTransferred: 10000, filesDeleted: 3, bytesTransferred: 48890, bytesSent: 1234567});
  });
});
