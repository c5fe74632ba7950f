import assert from 'node:assert/strict';
import {readFile} from 'node:fs/promises';
import path from 'node:path';
import {after, before, test} from 'node:test';
import {box, repoRoot, tempDir} from '../helpers/cli.js';
import {preloadEnv} from '../helpers/preload.js';

// bin/run.js turns on Node's compile cache (Node 22.1+, module.enableCompileCache) in box's own
// cache folder before it loads @oclif/core or any command. This machine's Node 20 has no such
// function: a preload gives it one that records its calls next to the modules loaded.
let work: {dir: string; cleanup: () => Promise<void>};
before(async () => {
  work = await tempDir('box-compile-cache-');
});
after(async () => work.cleanup());

test('box turns the compile cache on in BOX_HOME/cache/node-compile before it loads oclif or a command', async () => {
  const record = path.join(work.dir, 'loaded.txt');
  const home = path.join(work.dir, 'home');
  const helpers = path.join(repoRoot, 'test', 'helpers');
  // record-modules.mjs first, so the modules it records include everything box loads.
  const preloads = preloadEnv(path.join(helpers, 'fake-compile-cache-preload.mjs'), preloadEnv(path.join(helpers, 'record-modules.mjs'), '').NODE_OPTIONS);
  const result = await box(['template', 'list', '--json'], {boxHome: home, env: {...preloads, BOX_RECORD_MODULES: record}});
  assert.equal(result.exitCode, 0, String(result.stderr));
  assert.ok(JSON.parse(String(result.stdout)).templates.length > 0, 'the command still answers');

  const lines = (await readFile(record, 'utf8')).trim().split('\n');
  const calls = lines.filter((line) => line.startsWith('enableCompileCache '));
  assert.deepEqual(calls, [`enableCompileCache ${path.join(home, 'cache', 'node-compile')}`]);
  const turnedOn = lines.indexOf(calls[0]!);
  const firstAfter = (suffix: string) => lines.findIndex((line) => line.replaceAll('\\', '/').endsWith(suffix));
  for (const entry of ['dist/run.js', 'dist/commands/template/list.js']) {
    const at = firstAfter(entry);
    assert.ok(at > turnedOn, `${entry} loaded after the compile cache was turned on (line ${at} vs ${turnedOn})`);
  }
});
