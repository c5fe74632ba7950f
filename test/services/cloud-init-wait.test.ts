/**
 * box up's wait for cloud-init (services/lifecycle/cloud-init.ts) over a real sshd on this host,
 * against the stand-in `cloud-init` of test/fixtures/cloud-init (its `status` verb: done, error,
 * degraded, disabled, hanging). The real cloud-init is in test/e2e/cloud-init.e2e.test.ts.
 */
import assert from 'node:assert/strict';
import {copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {setTimeout as sleep} from 'node:timers/promises';
import {after, before, beforeEach, describe, test} from 'node:test';
import {isAbortError} from '../../src/core/errors.js';
import {waitForCloudInit} from '../../src/services/lifecycle/cloud-init.js';
import {provisionFixture, type ProvisionFixture} from '../provisioners/context.js';

const STAND_IN = fileURLToPath(new URL('../fixtures/cloud-init/cloud-init', import.meta.url));

describe('box up waits for cloud-init over SSH (stand-in cloud-init)', {timeout: 60_000}, () => {
  let f: ProvisionFixture;
  let bin: string;
  let program: string;
  const play = (mode: string, finished = true) => {
    writeFileSync(path.join(bin, 'mode'), mode);
    if (finished) writeFileSync(path.join(bin, 'finished'), '');
  };
  let runDir: string;
  let runs = 0;
  const wait = (options: {timeoutSeconds?: number; signal?: AbortSignal; program?: string} = {}) =>
    waitForCloudInit(f.comm, {machine: 'web', timeoutSeconds: options.timeoutSeconds ?? 20, signal: options.signal ?? new AbortController().signal, program: options.program ?? program, runDir});

  before(async () => {
    f = await provisionFixture();
    bin = path.join(f.sshd.dir, 'ci-bin');
    mkdirSync(bin);
    program = path.join(bin, 'cloud-init');
    copyFileSync(STAND_IN, program);
  });

  beforeEach(() => {
    for (const name of ['mode', 'finished', 'calls']) rmSync(path.join(bin, name), {force: true});
    // cloud-init's run folder (/run/cloud-init in a guest): empty, as while cloud-init runs.
    // A counter, not the clock: two tests can start within the same millisecond.
    runDir = path.join(f.sshd.dir, `run-${++runs}`);
    mkdirSync(runDir);
  });

  after(async () => {
    await f?.dispose();
  });

  test('a guest without cloud-init costs one command and is "absent"', async () => {
    assert.deepEqual(await wait({program: path.join(bin, 'no-such-cloud-init')}), {status: 'absent'});
  });

  test('a guest whose shell is not POSIX sh (Windows OpenSSH runs cmd.exe) is "absent", not a failed up', async () => {
    const cmdExe = {
      waitForReady: async () => {},
      exec: async (_command: string, options?: {onOutput?: (stream: 'stdout' | 'stderr', data: string) => void}) => {
        options?.onOutput?.('stderr', "'command' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n");
        return 1;
      },
      upload: async () => {},
      close: async () => {},
    };
    assert.deepEqual(await waitForCloudInit(cmdExe, {machine: 'win', timeoutSeconds: 5, signal: new AbortController().signal}), {status: 'absent'});
  });

  test('waits until cloud-init has finished, then reports done', async () => {
    play('done', false);
    const started = Date.now();
    const finishing = sleep(1500).then(() => writeFileSync(path.join(bin, 'finished'), ''));
    const outcome = await wait();
    await finishing;
    assert.deepEqual(outcome, {status: 'done'});
    assert.ok(Date.now() - started >= 1400, 'it returned only after the boot stages finished');
    assert.deepEqual(readFileSync(path.join(bin, 'calls'), 'utf8').trim().split('\n'), ['status --wait']);
  });

  test('cloud-init disabled at boot by its generator (no datasource: no seed) is "disabled" at once, without starting cloud-init', async () => {
    play('hang');
    writeFileSync(path.join(runDir, 'disabled'), '');
    assert.deepEqual(await wait(), {status: 'disabled'});
    assert.equal(existsSync(path.join(bin, 'calls')), false, 'the (slow, Python) cloud-init command did not run');
  });

  test('a finished run without errors (result.json) is "done" at once; one with errors asks cloud-init', async () => {
    play('error');
    writeFileSync(path.join(runDir, 'result.json'), '{\n "v1": {\n  "datasource": "DataSourceNoCloud [seed=/dev/sr0][dsmode=net]",\n  "errors": []\n }\n}\n');
    assert.deepEqual(await wait(), {status: 'done'});
    assert.equal(existsSync(path.join(bin, 'calls')), false);
    writeFileSync(path.join(runDir, 'result.json'), '{\n "v1": {\n  "datasource": "DataSourceNoCloud",\n  "errors": [\n   "(\'scripts_user\', RuntimeError())"\n  ]\n }\n}\n');
    await assert.rejects(wait(), {code: 'ERR_CLOUD_INIT_FAILED'});
  });

  test('status error fails with ERR_CLOUD_INIT_FAILED naming the machine and the useful lines of status --long', async () => {
    play('error');
    await assert.rejects(wait(), (error: {code: string; message: string; details: Record<string, unknown>}) => {
      assert.equal(error.code, 'ERR_CLOUD_INIT_FAILED');
      assert.match(error.message, /^cloud-init failed in machine web \(cloud-init status exit code 1\):\nstatus: error\ndetail:\n\('scripts_user', RuntimeError\('Runparts: 1 failures \(runcmd\)/);
      assert.doesNotMatch(error.message, /time:/);
      assert.equal(error.details.exitCode, 1);
      return true;
    });
  });

  test('exit 2 (recoverable errors) is "degraded" with the details, not a failure', async () => {
    play('degraded');
    const outcome = await wait();
    assert.equal(outcome.status, 'degraded');
    assert.match(outcome.detail ?? '', /recoverable_errors:\nWARNING:\n\t- Invalid cloud-config provided/);
  });

  test('a cloud-init that never finishes fails after the machine\'s ssh timeout', async () => {
    play('hang');
    const started = Date.now();
    await assert.rejects(wait({timeoutSeconds: 2}), (error: {code: string; message: string}) => {
      assert.equal(error.code, 'ERR_CLOUD_INIT_FAILED');
      assert.match(error.message, /^cloud-init in machine web did not finish within 2 s/);
      return true;
    });
    assert.ok(Date.now() - started < 10_000);
  });

  test('Ctrl-C (the abort signal) ends the wait at once', async () => {
    play('hang');
    const controller = new AbortController();
    const started = Date.now();
    setTimeout(() => controller.abort(), 500);
    await assert.rejects(wait({signal: controller.signal}), (error) => isAbortError(error));
    assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
    assert.ok(existsSync(program));
  });
});
