/**
 * One script runner (communicators/run-script.ts) for the shell provisioner, the build's
 * post-install scripts and the AMI bake's provisioning: all three stop the script's whole
 * process group in the guest on Ctrl-C. Against a real sshd on this machine.
 */
import assert from 'node:assert/strict';
import {existsSync, readFileSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {setTimeout as sleep} from 'node:timers/promises';
import type {BuildState} from '../../src/builder/methods/index.js';
import {bakeSteps, type BakeState} from '../../src/builder/methods/aws/bake-steps.js';
import {postInstallStep} from '../../src/builder/methods/iso/guest.js';
import {runGuestScript} from '../../src/communicators/run-script.js';
import {SshCommunicator} from '../../src/communicators/ssh/ssh-communicator.js';
import {silentUi} from '../../src/core/ui.js';
import {setAwsCommunicatorFactory} from '../../src/providers/aws/communicator-factory.js';
import {alive, provisionFixture, type ProvisionFixture} from '../provisioners/context.js';

describe('one script runner', () => {
  let f: ProvisionFixture;

  before(async () => {
    f = await provisionFixture();
  });

  after(async () => {
    setAwsCommunicatorFactory(undefined);
    await f?.dispose();
  });

  const freshComm = () => new SshCommunicator({host: f.sshd.host, port: f.sshd.port, username: f.sshd.username, privateKey: f.sshd.key.privateKey});

  /** Starts `run` with a script that backgrounds `sleep 30`, aborts once it runs, and checks the sleep is gone. */
  async function abortStopsChild(name: string, run: (script: string[], signal: AbortSignal) => Promise<unknown>): Promise<void> {
    const controller = new AbortController();
    const pidFile = path.join(f.sshd.dir, `${name}.pid`);
    const started = Date.now();
    const running = run([`sleep 30 & echo $! > ${pidFile}`, 'wait'], controller.signal);
    while (!existsSync(pidFile) && Date.now() - started < 10_000) await sleep(50);
    const child = Number(readFileSync(pidFile, 'utf8'));
    try {
      controller.abort();
      await assert.rejects(running, {code: 'ERR_INTERRUPTED'});
      assert.equal(alive(child), false, `the script's child ${child} still runs`);
    } finally {
      if (alive(child)) process.kill(child, 'SIGKILL');
    }
  }

  test('inline commands run with sh -e, args and env, nothing uploaded; a host file runs with its args', async () => {
    const out = path.join(f.sshd.dir, 'inline.out');
    const code = await runGuestScript(f.comm, {inline: `echo "$1 $GREETING" > ${out}\nfalse\necho not-reached >> ${out}`}, {privileged: false, args: ['a b'], env: {GREETING: 'hi'}, prefix: 'box-runner-test'});
    assert.equal(code, 1, 'set -e stops at false');
    assert.equal(readFileSync(out, 'utf8'), 'a b hi\n');
    const file = path.join(f.projectRoot, 'noshebang.sh');
    writeFileSync(file, `echo "$# \${BASH_VERSION:+bash}" > ${out}\n`);
    assert.equal(await runGuestScript(f.comm, {file}, {privileged: false, args: ['x', 'y'], prefix: 'box-runner-test'}), 0);
    assert.equal(readFileSync(out, 'utf8'), '2 bash\n');
    assert.equal((await f.sh('ls /tmp | grep -c "^box-runner-test-" || true')).trim(), '0', 'no script or pid file left in /tmp');
  });

  test('build post-install: Ctrl-C stops the script and the processes it started', async () => {
    await abortStopsChild('post-install', async (inline, signal) => {
      const state = {
        template: {name: 't', dir: f.projectRoot, definition: {post_install: [{inline, privileged: false, env: {}}]}},
        ui: silentUi(), data: {boxSsh: freshComm()},
      } as unknown as BuildState;
      try {
        await postInstallStep.run(state, signal);
      } finally {
        await postInstallStep.cleanup!(state, 'failed');
      }
    });
  });

  test('AMI bake provisioning: Ctrl-C stops the script and the processes it started', async () => {
    setAwsCommunicatorFactory(async () => freshComm());
    const provision = bakeSteps.find((s) => s.name === 'provision')!;
    await abortStopsChild('bake', async (inline, signal) => {
      const state = {host: '203.0.113.9', sshPort: 22, sshUsername: 'ubuntu', privateKeyPath: '/unused', workDir: f.projectRoot, ui: silentUi(), provisioners: [{inline, env: {}, privileged: false}]} as unknown as BakeState;
      await provision.run(state, signal);
    });
  });
});
