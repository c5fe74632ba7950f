/**
 * `box ci` with REAL qemu guests (TCG, 512 MiB), the way a CI job runs it: a project folder of
 * 200 files is synced in, a test script in the guest reads them and writes a JUnit file that
 * comes back as an artifact; a passing job exits 0 and leaves nothing (no instance folder, no
 * QEMU, no index entry); a failing one exits with the test's code, and with --destroy passing
 * keeps its VM until `box destroy --instance`; SIGTERM in the middle of the provisioners exits
 * 143 and leaves no process, disk or state. Each job is a new instance, so each boots a guest.
 */
import assert from 'node:assert/strict';
import {existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {execa} from 'execa';
import {box, boxBin, boxJson, tempDir} from '../helpers/cli.js';
import {takeE2eSlot} from '../helpers/e2e-slot.js';
import {removeE2eProject} from '../helpers/e2e-project.js';
import {preloadEnv} from '../helpers/preload.js';
import {qemuProcesses} from '../helpers/qemu-processes.js';
import {addTestBox, ensureTestBox} from '../helpers/test-box.js';
import {preload as stageFault} from '../faults/harness.js';

const BOXFILE = `name: cie2e
basebox: debian-12-minimal
targets:
  qemu: {cpus: 2, memory: 512}
synced_folders:
  - source: .
    destination: /home/vagrant/src
    exclude: [box-artifacts/]
tests:
  - {name: reads-the-synced-files, run: sh src/check.sh}
artifacts: [out/*.xml]
environments:
  # A job still in its provisioners when the runner cancels it.
  slow:
    provisioners:
      - {type: shell, inline: sleep 120}
`;

// The test in the guest: counts the synced files, checks box's own state stayed on the host,
// writes a JUnit file of its own, and exits with the code the host put in exit-code.
const CHECK = `set -u
n=$(ls src/data | wc -l)
echo "synced files: $n"
[ -e src/.box ] && { echo "the host's .box/ was copied in"; exit 90; }
mkdir -p out
printf '<testsuite name="guest" tests="1"><testcase name="count-%s"/></testsuite>\\n' "$n" > out/guest-junit.xml
[ "$n" = 200 ] || exit 91
exit "$(cat src/exit-code)"
`;

describe('box ci with real qemu guests', {timeout: 30 * 60_000}, () => {
  let release: () => Promise<void>;
  let home: Awaited<ReturnType<typeof tempDir>>;
  let project: Awaited<ReturnType<typeof tempDir>>;
  const opts = () => ({cwd: project.dir, boxHome: home.dir, timeoutMs: 600_000});
  const indexEntries = () => {
    const file = path.join(home.dir, 'machines.json');
    return existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) as unknown[] : [];
  };
  const assertNothingLeft = (what: string) => {
    assert.ok(!existsSync(path.join(project.dir, '.box')), `${what}: no .box/ (instance state) is left`);
    assert.deepEqual(qemuProcesses(project.dir), [], `${what}: no QEMU of the project runs`);
    assert.deepEqual(indexEntries(), [], `${what}: no machine index entry is left`);
  };

  before(async () => {
    release = await takeE2eSlot();
    await ensureTestBox();
    home = await tempDir('box-e2e-ci-home-');
    project = await tempDir('box-e2e-ci-project-');
    await addTestBox(home.dir);
    writeFileSync(path.join(project.dir, 'Boxfile'), BOXFILE);
    writeFileSync(path.join(project.dir, 'check.sh'), CHECK);
    writeFileSync(path.join(project.dir, 'exit-code'), '0\n');
    mkdirSync(path.join(project.dir, 'data'));
    for (let i = 0; i < 200; i++) writeFileSync(path.join(project.dir, 'data', `file-${i}.txt`), `${i}\n`);
  });

  after(async () => {
    for (const id of ['pass', 'fail', 'term']) await box(['destroy', '--force', '--instance', id], opts()).catch(() => undefined);
    await removeE2eProject(project, home);
    await release?.();
  });

  test('a passing job: the 200 files are synced in, the guest\'s JUnit file comes back, exit 0, nothing left', async () => {
    const {result, json} = await boxJson(['ci', '--id', 'pass'], opts());
    assert.equal(result.exitCode, 0, String(result.stderr));
    assert.equal(json.passed, true);
    assert.equal(json.destroyed, true);
    const [test] = json.machines[0].tests;
    assert.equal(test.status, 'passed');
    assert.match(test.output, /synced files: 200/);
    assert.equal(readFileSync(path.join(project.dir, 'box-artifacts', 'default', 'out', 'guest-junit.xml'), 'utf8').trim(), '<testsuite name="guest" tests="1"><testcase name="count-200"/></testsuite>');
    const report = readFileSync(path.join(project.dir, 'box-artifacts', 'junit.xml'), 'utf8');
    assert.match(report, /<testcase classname="box\.cie2e-pass\.default" name="reads-the-synced-files" time="[\d.]+">/);
    assert.match(report, /<system-out>synced files: 200\n<\/system-out>/);
    assertNothingLeft('after a passing job');
  });

  test('a failing job exits with the test\'s code; --destroy passing keeps the VM until `box destroy --instance`', async () => {
    writeFileSync(path.join(project.dir, 'exit-code'), '7\n');
    const run = await box(['ci', '--id', 'fail', '--destroy', 'passing'], opts());
    assert.equal(run.exitCode, 7, String(run.stderr));
    assert.match(String(run.stderr), /box destroy --instance fail --force/);
    assert.ok(existsSync(path.join(project.dir, '.box', 'instances', 'fail', '.box', 'machines', 'default', 'state.json')), 'the machine is kept');
    assert.equal(qemuProcesses(project.dir).length, 1, 'its QEMU still runs');
    assert.match(readFileSync(path.join(project.dir, 'box-artifacts', 'junit.xml'), 'utf8'), /<failure type="exit-code" message="exited with code 7">/);
    const status = await boxJson(['status', '--instance', 'fail'], opts());
    assert.equal(status.json.machines[0].status, 'running');
    const destroyed = await box(['destroy', '--instance', 'fail', '--force'], opts());
    assert.equal(destroyed.exitCode, 0, String(destroyed.stderr));
    assertNothingLeft('after destroy --instance');
  });

  test('SIGTERM while the provisioners run (the runner cancelled the job): exit 143, no process, disk or state left', async () => {
    writeFileSync(path.join(project.dir, 'exit-code'), '0\n');
    const child = execa(process.execPath, [boxBin, 'ci', '--id', 'term', '--env', 'slow'], {
      cwd: project.dir, reject: false, forceKillAfterDelay: false, timeout: 600_000,
      env: {BOX_HOME: home.dir, NO_COLOR: '1', ...preloadEnv(stageFault), BOX_FAULT_STAGE: 'provision', BOX_FAULT_ACTION: 'sigterm', BOX_FAULT_DELAY_MS: '3000'},
    });
    const result = await child;
    assert.equal(result.exitCode, 143, `signal ${result.signal}: ${result.stderr}`);
    assert.match(String(result.stderr), /Interrupted: cleaning up/);
    assertNothingLeft('after SIGTERM');
  });
});
