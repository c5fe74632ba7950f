#!/usr/bin/env node
// Runs every test file under test/ with node's test runner (TypeScript through tsx), in one
// run so there is one summary. `--no-e2e` skips *.e2e.test.ts (tests that boot real guests);
// `--only PATTERN` keeps files whose path contains PATTERN.
import {spawnSync} from 'node:child_process';
import {readdirSync, statSync} from 'node:fs';
import path from 'node:path';

const args = process.argv.slice(2);
const noE2e = args.includes('--no-e2e');
const onlyIndex = args.indexOf('--only');
const only = onlyIndex === -1 ? undefined : args[onlyIndex + 1];

function walk(dir) {
  return readdirSync(dir).flatMap((entry) => {
    const full = path.join(dir, entry);
    return statSync(full).isDirectory() ? walk(full) : [full];
  });
}

const files = walk('test')
  .filter((f) => f.endsWith('.test.ts'))
  .filter((f) => !(noE2e && f.endsWith('.e2e.test.ts')))
  .filter((f) => !only || f.includes(only))
  .sort();

if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}

const result = spawnSync(process.execPath, [
  '--import', 'tsx',
  '--test',
  '--test-concurrency=2',
  '--test-reporter=spec',
  ...files,
], {stdio: 'inherit'});
process.exit(result.status ?? 1);
