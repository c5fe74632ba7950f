import assert from 'node:assert/strict';
import {execa} from 'execa';
import {existsSync, readFileSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {after, before, beforeEach, describe, test} from 'node:test';
import type {ProvisionerConfig} from '../../src/boxfile/schema.js';
import {provisionerFor, provisionerTypes, registerProvisioner} from '../../src/provisioners/registry.js';
import {runProvisioners} from '../../src/provisioners/run-provisioners.js';
import {sshArgs} from '../../src/communicators/ssh/openssh.js';
import {provisionFixture, type ProvisionFixture} from './context.js';

describe('runProvisioners', () => {
  let f: ProvisionFixture;

  before(async () => {
    f = await provisionFixture();
  });

  beforeEach(() => {
    f.lines.length = 0;
  });

  after(async () => {
    await f?.dispose();
  });

  test('runs provisioners in order with a stage line each and reports what ran', async () => {
    writeFileSync(path.join(f.projectRoot, 'app.conf'), 'port=80\n');
    const conf = path.join(f.sshd.dir, 'order', 'app.conf');
    const log = path.join(f.sshd.dir, 'order', 'log');
    const configs: ProvisionerConfig[] = [
      {type: 'file', source: 'app.conf', destination: conf},
      {type: 'shell', name: 'check', inline: `cat ${conf} >> ${log}; echo second >> ${log}`},
      {type: 'shell', inline: `echo third >> ${log}`},
    ];
    const results = await runProvisioners(f.context(), configs);
    assert.equal(readFileSync(log, 'utf8'), 'port=80\nsecond\nthird\n');
    assert.deepEqual(results.map((r) => r.name), [`file app.conf → ${conf}`, 'shell check', 'shell inline script']);
    const stages = f.lines.filter((l) => l.startsWith('==> provision'));
    assert.deepEqual(stages, [
      `==> provision [1/3] file app.conf → ${conf}`,
      '==> provision [2/3] shell check',
      '==> provision [3/3] shell inline script',
    ]);
  });

  test('stops at the first failure and runs nothing after it', async () => {
    const after = path.join(f.sshd.dir, 'after-failure');
    await assert.rejects(runProvisioners(f.context(), [
      {type: 'shell', inline: 'exit 5'},
      {type: 'shell', inline: `touch ${after}`},
    ]), {code: 'ERR_PROVISION_FAILED'});
    assert.equal(existsSync(after), false);
  });

  test('an aborted signal runs nothing', async () => {
    const marker = path.join(f.sshd.dir, 'aborted');
    const controller = new AbortController();
    controller.abort();
    await assert.rejects(runProvisioners(f.context(controller.signal), [{type: 'shell', inline: `touch ${marker}`}]), {code: 'ERR_INTERRUPTED'});
    assert.equal(existsSync(marker), false);
  });

  test('an unknown provisioner type is a usage error listing the known ones', () => {
    assert.throws(() => provisionerFor('no-such-type'), (error: {code: string; exitCode: number; hint: string}) => {
      assert.equal(error.code, 'ERR_PROVISIONER_UNKNOWN');
      assert.equal(error.exitCode, 2);
      assert.match(error.hint, /ansible, ansible_local, chef_solo, chef_zero, file, puppet, shell/);
      return true;
    });
  });

  test('a provisioner added to the registry is run by type', async () => {
    const seen: string[] = [];
    registerProvisioner<{type: 'test-echo'; word: string}>({type: 'test-echo', async provision(ctx, config) {
      seen.push(config.word);
      await ctx.comm.exec('true');
    }});
    assert.ok(provisionerTypes().includes('test-echo'));
    await runProvisioners(f.context(), [{type: 'test-echo', word: 'hi'} as unknown as ProvisionerConfig]);
    assert.deepEqual(seen, ['hi']);
  });

  test('a host-side provisioner gets the machine\'s SSH address and key and reaches the guest with its own ssh client', async () => {
    const marker = path.join(f.sshd.dir, 'host-side-marker');
    registerProvisioner<{type: 'test-host-ssh'}>({type: 'test-host-ssh', async provision(ctx) {
      // What ansible does: the system's ssh with the address, user and key box reports.
      await execa('ssh', sshArgs(ctx.ssh, {command: `echo ${ctx.machine} > ${marker}`, batch: true, connectTimeout: 10}), {cancelSignal: ctx.signal});
    }});
    await runProvisioners(f.context(), [{type: 'test-host-ssh'} as unknown as ProvisionerConfig]);
    assert.equal(readFileSync(marker, 'utf8'), 'web\n');
  });
});
