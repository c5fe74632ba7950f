#!/usr/bin/env node
// Runs every benchmark in bench/ (or those whose name contains an argument) one after the
// other, so they do not compete for the CPU, and writes all results to bench-results/latest.json.
import {spawnSync} from 'node:child_process';
import {mkdirSync, readdirSync, writeFileSync} from 'node:fs';

// `--against vagrant` runs only bench/peer.bench.ts (box against Vagrant + vagrant-libvirt, issue
// 15's table; ~10 min a pair): never part of a plain `npm run bench`.
const args = process.argv.slice(2);
const againstAt = args.findIndex((a) => a === '--against' || a.startsWith('--against='));
let against;
if (againstAt !== -1) {
  against = args[againstAt].includes('=') ? args[againstAt].slice('--against='.length) : args[againstAt + 1];
  args.splice(againstAt, args[againstAt].includes('=') ? 1 : 2);
  if (against !== 'vagrant') {
    process.stderr.write(`--against ${against ?? '(nothing)'}: the peer box can be benched against is vagrant (--against vagrant)\n`);
    process.exit(2);
  }
}
const filters = args;
const files = readdirSync('bench')
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => (f === 'peer.bench.ts') === (against !== undefined))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
const results = {};
let failed = 0;
for (const file of files) {
  process.stderr.write(`\n### bench/${file}\n`);
  const env = against ? {...process.env, BENCH_AGAINST: against} : process.env;
  const run = spawnSync(process.execPath, ['--import', 'tsx', `bench/${file}`], {stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, env});
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
// The peer run keeps its own file, so it does not replace the other benchmarks' latest results.
writeFileSync(`bench-results/${against ? `against-${against}` : 'latest'}.json`, JSON.stringify({date: new Date().toISOString(), results}, null, 2) + '\n');
process.exit(failed ? 1 : 0);
