#!/usr/bin/env node
// Runs every test file under test/ with node's test runner (TypeScript through tsx), in two
// lanes side by side (guest files and cheap files, below) and one summary of both. `--no-e2e`
// skips *.e2e.test.ts (tests that boot real guests); `--only PATTERN` keeps files whose path
// contains PATTERN. `--faults` runs the fault suite (test/faults, see docs/faults.md) instead,
// which the default run leaves out; `--with-faults` runs both in one pass (CI: the fault suite's
// cheap files then run in the cheap lane while the guest lane boots guests).
import {spawn} from 'node:child_process';
import {existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const args = process.argv.slice(2);
const noE2e = args.includes('--no-e2e');
const onlyIndex = args.indexOf('--only');
const only = onlyIndex === -1 ? undefined : args[onlyIndex + 1];
const faults = args.includes('--faults');
const withFaults = args.includes('--with-faults');

function walk(dir) {
  return readdirSync(dir).flatMap((entry) => {
    const full = path.join(dir, entry);
    return statSync(full).isDirectory() ? walk(full) : [full];
  });
}

const files = walk('test')
  .filter((f) => f.endsWith('.test.ts'))
  .filter((f) => withFaults || f.startsWith(path.join('test', 'faults') + path.sep) === faults)
  .filter((f) => !(noE2e && f.endsWith('.e2e.test.ts')))
  .filter((f) => !only || f.includes(only))
  .sort();

if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}

// Tests that forget BOX_HOME must not write into the developer's ~/.box: give the run its own.
const boxHome = mkdtempSync(path.join(os.tmpdir(), 'box-test-home-'));
// Test fakes write what went wrong out of sight (a fake VM's stand-in guest that died) here;
// it is printed after the summary, where a CI log's tail shows it.
const eventLog = path.join(boxHome, 'test-events.log');
const started = Date.now();
const env = {...process.env, BOX_HOME: boxHome, BOX_TEST_EVENT_LOG: eventLog};

// Two lanes side by side, each its own test runner taking its files one at a time:
// - the guest lane, the *.e2e.test.ts files (they boot guests and take turns on the
//   machine-wide e2e slot anyway), its report streamed as it goes;
// - the cheap lane, every other file, its report kept and printed once the guest lane is done,
//   so the two reports never interleave.
// One runner with two lanes let both lanes reach guest files at once: one then idled on the
// slot (14 minutes in all of a 37-minute CI) while cheap files waited behind it.
const guests = files.filter((f) => f.endsWith('.e2e.test.ts'));
const cheap = files.filter((f) => !f.endsWith('.e2e.test.ts'));
const lanes = guests.length > 0 && cheap.length > 0
  ? [runLane('guest', guests, 1, true), runLane('cheap', cheap, 1, false)]
  : [runLane(guests.length > 0 ? 'guest' : 'cheap', files, guests.length > 0 ? 1 : 2, true)];
const results = await Promise.all(lanes);
for (const lane of results) if (lane.kept) process.stdout.write(`\n--- the ${lane.name} lane's report (${lane.files} files) ---\n${lane.kept}`);
if (existsSync(eventLog)) console.error(`events the test fakes logged (${eventLog}):\n${readFileSync(eventLog, 'utf8')}`);
rmSync(boxHome, {recursive: true, force: true});
if (results.length > 1) {
  const total = (key) => results.reduce((sum, lane) => sum + (lane.summary[key] ?? 0), 0);
  console.log(`\nboth lanes (${results.map((l) => `${l.name}: ${l.files} files, ${l.summary.fail ?? '?'} failed`).join('; ')}):`);
  for (const key of ['tests', 'pass', 'fail', 'cancelled', 'skipped', 'todo']) console.log(`ℹ ${key} ${total(key)}`);
}
if (faults || withFaults) console.error(`${withFaults ? 'test and fault suite' : 'fault suite'} wall time: ${((Date.now() - started) / 1000).toFixed(0)} s`);
process.exit(results.every((lane) => lane.status === 0) ? 0 : 1);

/**
 * One node test runner over `laneFiles`. Streamed: its output passes through as it comes;
 * otherwise it is kept (stdout and stderr in the order they came) for the caller to print.
 * Resolves with its exit status and the counts of its closing summary.
 */
function runLane(name, laneFiles, concurrency, streamed) {
  const child = spawn(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...laneFiles], {stdio: ['ignore', 'pipe', 'pipe'], env});
  let kept = '';
  let last = '';
  const take = (to) => (chunk) => {
    const text = chunk.toString();
    last = (last + text).slice(-20_000);
    if (streamed) to.write(chunk);
    else kept += text;
  };
  child.stdout.on('data', take(process.stdout));
  child.stderr.on('data', take(process.stderr));
  return new Promise((resolve) => {
    child.on('close', (code) => {
      const summary = Object.fromEntries([...last.matchAll(/^ℹ (tests|pass|fail|cancelled|skipped|todo) (\d+)$/gm)].map((m) => [m[1], Number(m[2])]));
      resolve({name, files: laneFiles.length, status: code ?? 1, summary, kept});
    });
  });
}
