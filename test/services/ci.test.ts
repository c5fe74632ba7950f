/**
 * `box ci` over the in-memory provider: the instance it makes, the order of the job (up, tests,
 * artifacts, report, destroy), the destroy policy, the exit code, and what a signal or the
 * timeout leaves (nothing). Real guests run the same flow in test/e2e/ci.e2e.test.ts, the aws
 * target in test/e2e/ci-aws-cli.test.ts.
 */
import assert from 'node:assert/strict';
import {execFileSync} from 'node:child_process';
import {existsSync} from 'node:fs';
import {readFile, readdir, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {describe, test} from 'node:test';
import {BoxError, InterruptedError} from '../../src/core/errors.js';
import {readMachineIndex} from '../../src/core/state.js';
import {ci, type CiOptions, type CiResult} from '../../src/services/ci.js';
import {destroy} from '../../src/services/destroy.js';
import {status} from '../../src/services/status.js';
import {GatedProvider} from './gated-provider.js';
import {servicesSandbox} from './services-sandbox.js';

describe('box ci (service)', () => {
  const fake = new GatedProvider();
  const sandbox = servicesSandbox('box-ci-', fake, () => fake.reset());
  const boxfile = (text: string) => writeFile(path.join(sandbox.project(), 'Boxfile'), `name: shop\nbasebox: debian-12-minimal\ntarget: virtualbox\n${text}`);
  const options = (extra: Partial<CiOptions> = {}): CiOptions => ({
    ...sandbox.opts(), processEnv: {}, destroy: 'always', artifactsDir: 'box-artifacts', ...extra,
  } as CiOptions);
  const failure = async (run: Promise<unknown>): Promise<BoxError & {partialResult: CiResult}> => {
    try {
      await run;
    } catch (error) {
      assert.ok(error instanceof BoxError, String(error));
      return error as BoxError & {partialResult: CiResult};
    }
    assert.fail('box ci succeeded');
  };
  const instancesDir = () => path.join(sandbox.project(), '.box', 'instances');
  const guestScripts = (machine: string) => fake.guest.filter((g) => g.machine === machine).flatMap((g) => g.uploaded);

  test('a passing job runs the tests in a new instance, writes the report, destroys it and leaves nothing', async () => {
    await boxfile('tests:\n  - echo unit\n  - {name: lint, run: echo lint, privileged: true}\nartifacts: [out/junit.xml]\n');
    const result = await ci(options({id: 'Job 7'}));
    assert.equal(result.instance, 'job-7', 'the id is sanitized');
    assert.equal(result.project, 'shop-job-7');
    assert.equal(result.passed, true);
    assert.equal(result.exitCode, 0);
    assert.equal(result.destroyed, true);
    assert.deepEqual(result.machines[0]!.tests.map((t) => [t.name, t.status, t.exitCode]), [['echo unit', 'passed', 0], ['lint', 'passed', 0]]);
    const scripts = guestScripts('default');
    assert.ok(scripts.some((s) => s.includes('echo unit')) && scripts.some((s) => s.includes('echo lint')), 'both commands ran in the guest');
    assert.ok(fake.guest.some((g) => g.env?.BOX_INSTANCE === 'job-7' && g.env.BOX_CI === '1'), 'the tests see the instance id');
    // up before the tests, destroy after them.
    assert.deepEqual(fake.events.filter((e) => e.endsWith(':start:default')), ['up:start:default', 'destroy:start:default']);
    assert.ok(!existsSync(instancesDir()), 'the instance folder is gone');
    assert.ok(!existsSync(path.join(sandbox.project(), '.box')), 'and .box with it');
    assert.deepEqual(await readMachineIndex(), [], 'no index entry is left');
    const xml = await readFile(path.join(sandbox.project(), 'box-artifacts', 'junit.xml'), 'utf8');
    assert.match(xml, /<testsuite name="default" tests="2" failures="0" errors="0" skipped="0"/);
    assert.match(xml, /<testcase classname="box\.shop-job-7\.default" name="lint"/);
  });

  test('the machine lives under .box/instances/<id> during the job, with the instance\'s name', async () => {
    await boxfile('tests: [echo hi]\n');
    let seen: {root: string; name: string} | undefined;
    const original = fake.up.bind(fake);
    fake.up = async (ctx) => {
      seen = {root: ctx.project.root, name: ctx.project.name};
      return original(ctx);
    };
    try {
      await ci(options({id: 'abc'}));
    } finally {
      fake.up = original;
    }
    assert.deepEqual(seen, {root: path.join(sandbox.project(), '.box', 'instances', 'abc'), name: 'shop-abc'});
  });

  test('host hooks and provisioner files of an instance still resolve in the Boxfile\'s folder', async () => {
    await writeFile(path.join(sandbox.project(), 'setup.sh'), 'echo from-the-script\n');
    await boxfile('tests: [echo hi]\nprovisioners:\n  - {type: shell, path: setup.sh}\nhooks:\n  setup:\n    - run: pwd > hook-cwd.txt\n');
    await ci(options({id: 'hooked'}));
    assert.equal((await readFile(path.join(sandbox.project(), 'hook-cwd.txt'), 'utf8')).trim(), sandbox.project());
    assert.ok(guestScripts('default').some((s) => s.includes('echo from-the-script')));
  });

  test('a failing command exits with its code, skips the rest, and --destroy passing keeps the machine for `box destroy --instance`', async () => {
    await boxfile('tests:\n  - echo first\n  - exit-with-3\n  - echo never\n');
    fake.guestExit.set('exit-with-3', 3);
    const error = await failure(ci(options({id: 'keep-me', destroy: 'passing'})));
    assert.equal(error.code, 'ERR_CI_FAILED');
    assert.equal(error.exitCode, 3);
    assert.match(error.message, /"exit-with-3" exited with code 3/);
    const result = error.partialResult;
    assert.equal(result.destroyed, false);
    assert.equal(result.destroyCommand, 'box destroy --instance keep-me --force');
    assert.deepEqual(result.machines[0]!.tests.map((t) => t.status), ['passed', 'failed', 'skipped']);
    assert.ok(!guestScripts('default').some((s) => s.includes('echo never')), 'nothing ran after the failure');
    const kept = path.join(instancesDir(), 'keep-me', '.box', 'machines', 'default', 'state.json');
    assert.ok(existsSync(kept), 'the machine is kept');
    assert.equal((await status({...sandbox.opts(), instance: 'keep-me'})).machines[0]!.status, 'running', 'status --instance reaches it');
    assert.ok(!existsSync(path.join(sandbox.project(), '.box', 'machines')), 'the project itself has no machine');

    await destroy({...sandbox.opts(), instance: 'keep-me'});
    assert.ok(!existsSync(instancesDir()), 'destroy --instance removes it all');
    assert.deepEqual(await readMachineIndex(), []);
  });

  test('--destroy always destroys a failed job too; --destroy never keeps a passing one', async () => {
    await boxfile('tests: [boom]\n');
    fake.guestExit.set('boom', 2);
    const error = await failure(ci(options({id: 'a'})));
    assert.equal(error.exitCode, 2);
    assert.equal(error.partialResult.destroyed, true);
    assert.ok(!existsSync(instancesDir()));

    fake.guestExit.clear();
    const kept = await ci(options({id: 'b', destroy: 'never'}));
    assert.equal(kept.passed, true);
    assert.equal(kept.destroyed, false);
    assert.ok(existsSync(path.join(instancesDir(), 'b')));
    await destroy({...sandbox.opts(), instance: 'b'});
  });

  test('a failed up is a failed job (exit 1) with an "up" test case, and nothing is left', async () => {
    await boxfile('tests: [echo hi]\n');
    fake.failing.add('up:default');
    const error = await failure(ci(options({id: 'up-fails'})));
    assert.equal(error.exitCode, 1);
    assert.match(error.message, /default: up failed: up of default failed on purpose/);
    assert.equal(error.partialResult.machines[0]!.tests.length, 0, 'no test ran');
    const xml = await readFile(path.join(sandbox.project(), 'box-artifacts', 'junit.xml'), 'utf8');
    assert.match(xml, /<testcase classname="box\.shop-up-fails\.default" name="up" time="[\d.]+">\n\s+<error type="error" message="up of default failed on purpose">/);
    assert.ok(!existsSync(instancesDir()));
  });

  test('several machines: one suite each, the first failing machine decides the exit code', async () => {
    await boxfile('tests: [echo ok]\nmachines:\n  web:\n    tests: [web-fails]\n  db:\n');
    fake.guestExit.set('web-fails', 5);
    const error = await failure(ci(options({id: 'multi', junit: 'reports/ci.xml'})));
    assert.equal(error.exitCode, 5);
    assert.deepEqual(error.partialResult.machines.map((m) => [m.name, m.tests.map((t) => t.status)]), [['web', ['failed']], ['db', ['passed']]]);
    const xml = await readFile(path.join(sandbox.project(), 'reports', 'ci.xml'), 'utf8');
    assert.match(xml, /<testsuites name="box ci multi" tests="2" failures="1" errors="0" skipped="0"/);
    assert.ok(!existsSync(instancesDir()));
  });

  test('a guest that cannot be reached for its tests fails the job (never a silent pass)', async () => {
    await boxfile('tests: [echo hi]\n');
    const original = fake.communicator.bind(fake);
    // The guest answers box up (its cloud-init probe, the first session), then no more.
    let sessions = 0;
    fake.communicator = async (...args: Parameters<typeof original>) => {
      if (sessions++ === 0) return original(...args);
      throw new BoxError('ERR_SSH_TIMEOUT', 'no answer on port 2200');
    };
    try {
      const error = await failure(ci(options({id: 'unreachable'})));
      assert.equal(error.exitCode, 1);
      assert.deepEqual(error.partialResult.machines[0]!.tests.map((t) => [t.status, t.message]), [['error', 'could not run the tests: no answer on port 2200']]);
      assert.equal(error.partialResult.machines[0]!.artifacts, undefined);
    } finally {
      fake.communicator = original;
    }
    assert.ok(!existsSync(instancesDir()));
  });

  test('a command given to box ci replaces the Boxfile\'s tests', async () => {
    await boxfile('tests: [echo from-boxfile]\n');
    const result = await ci(options({id: 'cmd', command: 'echo from-flag'}));
    assert.deepEqual(result.machines[0]!.tests.map((t) => t.name), ['echo from-flag']);
    assert.ok(!guestScripts('default').some((s) => s.includes('from-boxfile')));
  });

  test('SIGTERM during up: the job stops, destroys what it made and reports 143, with the report written', async () => {
    await boxfile('tests: [echo hi]\n');
    fake.autoRelease = false;
    const controller = new AbortController();
    fake.onStart = () => controller.abort(new InterruptedError('Terminated (SIGTERM)', 'SIGTERM'));
    const error = await failure(ci(options({id: 'term', signal: controller.signal})));
    assert.ok(error instanceof InterruptedError);
    assert.equal(error.exitCode, 143);
    assert.equal(error.partialResult.passed, false);
    assert.equal(error.partialResult.destroyed, true);
    assert.ok(!existsSync(instancesDir()), 'nothing of the instance is left');
    assert.deepEqual(await readMachineIndex(), []);
    assert.ok(existsSync(path.join(sandbox.project(), 'box-artifacts', 'junit.xml')));
  });

  test('--timeout stops the job, destroys its machines and exits 124 with a clear message', async () => {
    await boxfile('tests: [echo hi]\n');
    fake.autoRelease = false; // up never finishes on its own
    const started = Date.now();
    const error = await failure(ci(options({id: 'slow', timeoutMs: 300})));
    assert.equal(error.code, 'ERR_CI_TIMEOUT');
    assert.equal(error.exitCode, 124);
    assert.match(error.message, /ran out of its --timeout \(0\.3s\).*machines were destroyed/);
    assert.ok(Date.now() - started < 5000);
    assert.ok(!existsSync(instancesDir()));
    assert.deepEqual(await readMachineIndex(), []);
  });

  test('two jobs in the same checkout at once get their own machines', async () => {
    await boxfile('tests: [echo hi]\n');
    const roots = new Set<string>();
    const original = fake.up.bind(fake);
    fake.up = async (ctx) => {
      roots.add(ctx.project.root);
      return original(ctx);
    };
    try {
      const [a, b] = await Promise.all([ci(options({processEnv: {CI_JOB_ID: '101'}})), ci(options({processEnv: {CI_JOB_ID: '102'}}))]);
      assert.deepEqual([a.instance, b.instance], ['gl-101', 'gl-102']);
      assert.equal(a.instanceFrom, 'CI_JOB_ID');
    } finally {
      fake.up = original;
    }
    assert.equal(roots.size, 2);
    assert.ok(!existsSync(instancesDir()));
  });

  test('--json carries the same data as the report', async () => {
    await boxfile('tests: [echo hi]\n');
    const result = await ci(options({id: 'json'}));
    const roundTrip = JSON.parse(JSON.stringify(result)) as CiResult;
    assert.equal(roundTrip.machines[0]!.tests[0]!.name, 'echo hi');
    assert.equal(typeof roundTrip.machines[0]!.tests[0]!.durationMs, 'number');
    assert.equal(roundTrip.junit, path.join(sandbox.project(), 'box-artifacts', 'junit.xml'));
    // The report parses as XML (python's expat: strict XML 1.0).
    const parsed = execFileSync('python3', ['-c', 'import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); print(r.get("tests"))', roundTrip.junit], {encoding: 'utf8'});
    assert.equal(parsed.trim(), '1');
    assert.deepEqual(await readdir(path.join(sandbox.project(), 'box-artifacts')), ['junit.xml']);
  });
});
