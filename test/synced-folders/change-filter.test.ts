import assert from 'node:assert/strict';
import {execFileSync} from 'node:child_process';
import {mkdirSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {describe, test} from 'node:test';
import {changeMatters, compileExclude, notGitIgnored} from '../../src/synced-folders/change-filter.js';
import {tempDir} from '../helpers/cli.js';

describe('which changes rsync-auto copies', () => {
  const matters = (relative: string, patterns: string[], source = '/nonexistent') => changeMatters(source, relative, patterns.map(compileExclude));

  test('a pattern without a slash matches a name at any depth, and what lies inside it', () => {
    assert.equal(matters('a.log', ['*.log']), false);
    assert.equal(matters('src/deep/a.log', ['*.log']), false);
    assert.equal(matters('src/a.txt', ['*.log']), true);
    assert.equal(matters('node_modules/pkg/index.js', ['node_modules']), false);
  });

  test('a leading slash anchors at the folder; a trailing slash matches folders only', () => {
    assert.equal(matters('build/out.bin', ['/build/']), false);
    assert.equal(matters('src/build/out.bin', ['/build/']), true);
    assert.equal(matters('build', ['/build/']), true, 'a file named build (or a deleted path) is no folder');
    assert.equal(matters('.box/machines/web/machine.lock', ['/.box/']), false);
  });

  test('a slash in the middle matches at a name boundary; ** crosses folders, * and ? do not', () => {
    assert.equal(matters('x/docs/a.tmp', ['docs/*.tmp']), false);
    assert.equal(matters('mydocs/a.tmp', ['docs/*.tmp']), true);
    assert.equal(matters('docs/sub/a.tmp', ['docs/*.tmp']), true);
    assert.equal(matters('docs/sub/a.tmp', ['docs/**.tmp']), false);
    assert.equal(matters('a1.txt', ['a?.txt']), false);
    assert.equal(matters('ab/.txt', ['a?.txt']), true);
    assert.equal(matters('file[1].txt', ['file\\[1\\].txt']), false);
    assert.equal(matters('v2.txt', ['v[0-9].txt']), false);
  });

  test('a folder on disk matches a folder pattern', async () => {
    const dir = await tempDir('box-change-filter-');
    try {
      mkdirSync(path.join(dir.dir, 'cache'));
      assert.equal(matters('cache', ['cache/'], dir.dir), false);
    } finally {
      await dir.cleanup();
    }
  });

  test('git decides which changes a gitignore folder ignores (also inside ignored folders and for deleted files)', async () => {
    const dir = await tempDir('box-change-filter-git-');
    try {
      execFileSync('git', ['init', '-q', dir.dir]);
      writeFileSync(path.join(dir.dir, '.gitignore'), '*.log\nnode_modules/\n');
      mkdirSync(path.join(dir.dir, 'node_modules/pkg'), {recursive: true});
      writeFileSync(path.join(dir.dir, 'node_modules/pkg/i.js'), '');
      assert.deepEqual(await notGitIgnored(dir.dir, ['a.log', 'src/b.js', 'node_modules/pkg/i.js', 'gone.log']), ['src/b.js']);
      const plain = await tempDir('box-change-filter-plain-');
      assert.deepEqual(await notGitIgnored(plain.dir, ['a.log']), ['a.log'], 'outside a work tree every change counts');
      await plain.cleanup();
    } finally {
      await dir.cleanup();
    }
  });
});
