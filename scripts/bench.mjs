#!/usr/bin/env node
// Runs every benchmark in bench/ (or those whose name contains an argument) one after the
// other, so they do not compete for the CPU, and writes all results to bench-results/latest.json.
import {spawnSync} from 'node:child_process';
import {mkdirSync, readdirSync, writeFileSync} from 'node:fs';

const filters = process.argv.slice(2);
const files = readdirSync('bench')
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
const results = {};
let failed = 0;
for (const file of files) {
  process.stderr.write(`\n### bench/${file}\n`);
  const run = spawnSync(process.execPath, ['--import', 'tsx', `bench/${file}`], {stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 64 * 1024 * 1024});
  const out = run.stdout.trim();
  try {
    results[file] = JSON.parse(out.slice(out.indexOf('{')));
  } catch {
    results[file] = {error: `exit ${run.status}`, stdout: out.slice(-2000)};
    failed++;
  }
  process.stdout.write(`${file}: ${JSON.stringify(results[file], null, 2)}\n`);
}
mkdirSync('bench-results', {recursive: true});
writeFileSync('bench-results/latest.json', JSON.stringify({date: new Date().toISOString(), results}, null, 2) + '\n');
process.exit(failed ? 1 : 0);
