#!/usr/bin/env node
// Runs every test file under test/ with node's test runner (TypeScript through tsx), in one
// run so there is one summary. `--no-e2e` skips *.e2e.test.ts (tests that boot real guests);
// `--only PATTERN` keeps files whose path contains PATTERN. `--faults` runs the fault suite
// (test/faults, see docs/faults.md) instead, which the default run leaves out; `--with-faults`
// runs both in one pass (CI: the fault suite's cheap files then fill the second lane while the
// other lane waits on a guest, instead of running after everything else).
import {spawnSync} from 'node:child_process';
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

// Files that boot guests take turns on the machine-wide e2e slot, so a runner lane that reaches
// one while another guest runs just waits. Spread the cheap files evenly between them: while
// one lane runs a guest, the other works through cheap files instead of idling on the slot.
// (Tried and dropped: a runner for guest files, one at a time, beside a runner for the rest. The
// guest files' start-up and cleanup outside the slot then line up on the critical path, and the
// other runner's steady load slowed the guests by ~40%: slower in all than idling on the slot.)
{
  const guests = files.filter((f) => f.endsWith('.e2e.test.ts'));
  const others = files.filter((f) => !f.endsWith('.e2e.test.ts'));
  const perGuest = guests.length === 0 ? others.length : Math.max(2, Math.ceil(others.length / guests.length));
  files.length = 0;
  while (guests.length > 0 || others.length > 0) files.push(...guests.splice(0, 1), ...others.splice(0, perGuest));
}

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
const result = spawnSync(process.execPath, [
  '--import', 'tsx',
  '--test',
  '--test-concurrency=2',
  '--test-reporter=spec',
  ...files,
], {stdio: 'inherit', env: {...process.env, BOX_HOME: boxHome, BOX_TEST_EVENT_LOG: eventLog}});
if (existsSync(eventLog)) console.error(`events the test fakes logged (${eventLog}):\n${readFileSync(eventLog, 'utf8')}`);
rmSync(boxHome, {recursive: true, force: true});
if (faults || withFaults) console.error(`${withFaults ? 'test and fault suite' : 'fault suite'} wall time: ${((Date.now() - started) / 1000).toFixed(0)} s`);
process.exit(result.status ?? 1);
