/**
 * `box suspend`, `box resume` and `halt --suspend` refusals, without a guest: a machine that is
 * not running (qemu, and aws without an EC2 call), resume of a machine that is not suspended, and
 * conflicting flags. Each leaves nothing behind. The real suspend/resume is in
 * test/e2e/qemu-machine-state.e2e.test.ts, the virtualbox one in test/providers/virtualbox.
 */
import assert from 'node:assert/strict';
import {existsSync} from 'node:fs';
import {writeFile} from 'node:fs/promises';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {boxJson, tempDir} from '../helpers/cli.js';
import {awsBoxfile} from '../helpers/aws-boxfile.js';

describe('suspend and resume refusals', () => {
  let home: Awaited<ReturnType<typeof tempDir>>;
  let qemu: Awaited<ReturnType<typeof tempDir>>;
  let aws: Awaited<ReturnType<typeof tempDir>>;

  before(async () => {
    home = await tempDir('box-suspend-home-');
    qemu = await tempDir('box-suspend-qemu-');
    aws = await tempDir('box-suspend-aws-');
    await writeFile(path.join(qemu.dir, 'Boxfile'), 'basebox: debian-12-minimal\ntarget: qemu\n');
    await writeFile(path.join(aws.dir, 'Boxfile'), awsBoxfile('suspend-refusal'));
  });

  after(async () => {
    await Promise.all([qemu?.cleanup(), aws?.cleanup(), home?.cleanup()]);
  });

  test('suspend of an aws machine that is not created fails (exit 1) without an EC2 call, and creates nothing', async () => {
    // The endpoint answers nothing: a call to it would fail otherwise. (A target without suspend: test/services/suspend.test.ts.)
    for (const args of [['suspend'], ['halt', '--suspend']]) {
      const {result, json} = await boxJson(args, {cwd: aws.dir, boxHome: home.dir, env: {AWS_ENDPOINT_URL: 'http://127.0.0.1:9'}});
      assert.equal(result.exitCode, 1, String(result.stderr));
      assert.equal(json.error.code, 'ERR_NOT_RUNNING');
      assert.match(json.error.message, /default is not-created; only a running machine can be suspended/);
    }
    assert.equal(existsSync(path.join(aws.dir, '.box', 'machines', 'default', 'state.json')), false);
  });

  test('suspend of a machine that is not running fails (exit 1) and creates nothing', async () => {
    const {result, json} = await boxJson(['suspend'], {cwd: qemu.dir, boxHome: home.dir});
    assert.equal(result.exitCode, 1);
    assert.equal(json.error.code, 'ERR_NOT_RUNNING');
    assert.match(json.error.message, /default is not-created; only a running machine can be suspended/);
    assert.equal(existsSync(path.join(qemu.dir, '.box', 'machines', 'default')), false);
  });

  test('resume of a machine that is not suspended fails (exit 1) and points at box up', async () => {
    const {result, json} = await boxJson(['resume'], {cwd: qemu.dir, boxHome: home.dir});
    assert.equal(result.exitCode, 1);
    assert.equal(json.error.code, 'ERR_NOT_SUSPENDED');
    assert.match(json.error.message, /default is not-created; nothing was changed/);
    assert.match(json.error.hint, /box up/);
  });

  test('halt --suspend and --force exclude each other (usage, exit 2)', async () => {
    const {result} = await boxJson(['halt', '--suspend', '--force'], {cwd: qemu.dir, boxHome: home.dir});
    assert.equal(result.exitCode, 2);
  });
});
