/**
 * Faults during `box build`, with real QEMU and the real cached test box as the source of a
 * from-box build (and the debootstrap method up to where it gets expensive): kill -9 and
 * Ctrl-C at the stage boundaries, then the follow-up (the next build leaves nothing of the
 * killed one: no work folder, VM, mount or partial output). The stages after the build VM has
 * booted cost a boot each (about a minute here): CI runs two of them; BOX_FAULTS_FULL=1 runs
 * every one.
 */
import assert from 'node:assert/strict';
import {mkdirSync, readdirSync, symlinkSync} from 'node:fs';
import path from 'node:path';
import {describe, test} from 'node:test';
import {guestSuite} from './guest-suite.js';
import {UNEXPECTED, Sandbox, assertInterrupted, assertStoppedAt, describeRun, portsOf, withTmpfs, type BoxRun, type Fault, type FaultAction} from './harness.js';

const TEMPLATE = `description: fault suite build from the test box
os: debian
version: "0.1.0"
method: box
source: debian-12-minimal
cpus: 2
memory: 512
ssh:
  username: vagrant
  timeout: 5m
post_install:
  - inline: ["sleep 2", "echo post-install-ran"]
shutdown_command: sudo -S shutdown -P now
shutdown_timeout: 2m
`;

/** Stages of a from-box build before the VM has booted: cheap to stop at. */
const EARLY = ['prepare', 'resolve-source', 'create-overlay', 'boot', 'wait-for-ssh'];
/** Stages after the VM booted (a boot each). CI runs Ctrl-C at post-install (live VM and SSH session) and kill -9 at add (a finished build). */
const LATE = ['post-install', 'extract-kernel', 'shutdown', 'compress', 'package', 'catalog', 'add'];
const FULL = process.env.BOX_FAULTS_FULL === '1';
/** What may stay in BOX_HOME after a build: caches and the (empty) folder of build records. */
const HOME_CACHES = [/\/home\/(insecure_private_key|builds)$/, /\/home\/cache(\/|$)/];

describe('faults during box build (real QEMU, the test box as source)', {timeout: 60 * 60_000}, () => {
  const suite = guestSuite('build', {'tpl/template.yaml': TEMPLATE});
  const sandboxFor = (name: string) => suite.sandbox(name);

  const build = (sandbox: Sandbox, fault?: Fault, extra: string[] = []) => sandbox.box(['build', path.join(sandbox.project, 'tpl'), '--output', sandbox.out, '--json', ...extra], {fault, timeoutMs: 15 * 60_000});

  /**
   * What a user does next: build again. The next build must first remove what the killed one
   * left (here it is stopped by Ctrl-C just before its own VM boots, so it costs a second).
   */
  async function nextBuildLeavesNothing(sandbox: Sandbox, context: string, runs: BoxRun[]): Promise<void> {
    const next = await build(sandbox, {stage: 'boot', action: 'ctrl-c'});
    assertInterrupted(next);
    await sandbox.assertClean(context, {ports: portsOf(...runs, next), allow: HOME_CACHES});
  }

  describe('before the build VM has booted', {concurrency: 3}, () => {
    for (const stage of EARLY) {
      test(`kill -9 at ${stage}: the next build removes the work folder and VM it left`, async () => {
        const sandbox = await sandboxFor(`kill-${stage}`);
        const fault: Fault = {stage, action: 'kill'};
        const run = await build(sandbox, fault);
        assertStoppedAt(run, fault);
        await nextBuildLeavesNothing(sandbox, `build killed at ${stage}, then built again`, [run]);
      });

      test(`Ctrl-C at ${stage}: exit 130, no VM, work folder or output is left`, async () => {
        const sandbox = await sandboxFor(`int-${stage}`);
        const fault: Fault = {stage, action: 'ctrl-c'};
        const run = await build(sandbox, fault);
        assertStoppedAt(run, fault);
        assertInterrupted(run);
        await sandbox.assertClean(`build interrupted at ${stage}`, {ports: portsOf(run), allow: HOME_CACHES});
      });
    }

    test('debootstrap: Ctrl-C at the debootstrap stage exits 130 and leaves nothing', async () => {
      const sandbox = await sandboxFor('deboot-int');
      const run = await sandbox.box(['build', 'debian-12-minimal', '--output', sandbox.out, '--json'], {fault: {stage: 'debootstrap', action: 'ctrl-c'}});
      assertInterrupted(run);
      await sandbox.assertClean('debootstrap interrupted at its start', {allow: HOME_CACHES});
    });

    test('debootstrap: kill -9 while debootstrap runs: the next build stops it, unmounts and removes its work folder', async () => {
      const sandbox = await sandboxFor('deboot-kill');
      const fault: Fault = {stage: 'debootstrap', action: 'kill', waitChild: 'debootstrap --variant', delayMs: 3000};
      const run = await sandbox.box(['build', 'debian-12-minimal', '--output', sandbox.out, '--json'], {fault});
      assert.equal(run.signal, 'SIGKILL', describeRun(run));
      const next = await sandbox.box(['build', 'debian-12-minimal', '--output', sandbox.out, '--json'], {fault: {stage: 'debootstrap', action: 'ctrl-c'}});
      assertInterrupted(next);
      await sandbox.assertClean('debootstrap killed, then built again', {allow: HOME_CACHES});
    });
  });

  describe('after the build VM has booted (one boot each)', () => {
    const OUTPUT = [/\/out\/(tpl-0\.1\.0-libvirt\.box|tpl\.json|build\.json)$/, ...HOME_CACHES];

    test('Ctrl-C at post-install (VM up, SSH session open): exit 130, the VM is stopped, nothing is left', async () => {
      const sandbox = await sandboxFor('int-post-install');
      const fault: Fault = {stage: 'post-install', action: 'ctrl-c'};
      const run = await build(sandbox, fault, ['--add']);
      assertStoppedAt(run, fault);
      assertInterrupted(run);
      await sandbox.assertClean('build interrupted at post-install', {ports: portsOf(run), allow: HOME_CACHES});
    });

    test('kill -9 at add; the next build --add onto a full store says so clearly; with room again it adds from the cache', async () => {
      const sandbox = await sandboxFor('kill-add');
      const fault: Fault = {stage: 'add', action: 'kill'};
      const run = await build(sandbox, fault, ['--add']);
      assertStoppedAt(run, fault);
      await withTmpfs(sandbox.home, '32m', async () => {
        // The source box is read from the shared store; only the new box would be written here.
        mkdirSync(path.join(sandbox.home, 'boxes'));
        symlinkSync(path.join(suite.store().home, 'boxes', 'debian-12-minimal'), path.join(sandbox.home, 'boxes', 'debian-12-minimal'));
        const full = await build(sandbox, undefined, ['--add']);
        assert.equal(full.exitCode, 1, describeRun(full));
        assert.doesNotMatch(full.stdout + full.stderr, UNEXPECTED, describeRun(full));
        const message = JSON.parse(full.stdout).error.message as string;
        assert.doesNotMatch(message, /not a valid box archive/, `a full disk is not a broken archive (issue 10, 9c):\n${message}`);
        assert.match(message, /full|no space|no room/i, `the store's file system is full, and box says so (issue 10, 9c):\n${message}`);
        assert.deepEqual(readdirSync(path.join(sandbox.home, 'boxes')), ['debian-12-minimal'], 'nothing half-added');
      });
      const next = await build(sandbox, undefined, ['--add']);
      assert.equal(next.exitCode, 0, describeRun(next));
      assert.equal(JSON.parse(next.stdout).cacheHit, true, 'the killed build had finished the box: no second build');
      assert.equal(JSON.parse(next.stdout).added.name, 'tpl');
      await sandbox.assertClean('build killed at add, then built again', {ports: portsOf(run, next), allow: OUTPUT});
      assert.ok(readdirSync(path.join(suite.store().home, 'boxes')).includes('tpl'));
      assert.equal((await suite.store().box(['box', 'remove', 'tpl', '--force', '--json'])).exitCode, 0);
    });

    // The other late boundaries (a boot each): BOX_FAULTS_FULL=1.
    const more = FULL ? LATE.flatMap((stage) => (['kill', 'ctrl-c'] as FaultAction[]).map((action) => [stage, action] as [string, FaultAction]))
      .filter(([stage, action]) => !(stage === 'post-install' && action === 'ctrl-c') && !(stage === 'add' && action === 'kill')) : [];
    for (const [stage, action] of more) {
      test(`${action === 'kill' ? 'kill -9' : 'Ctrl-C'} at ${stage}: ${action === 'kill' ? 'the next build finishes the job and leaves nothing else' : 'exit 130, the VM is stopped, nothing is left'}`, async () => {
        const sandbox = await sandboxFor(`${action}-${stage}`);
        const fault: Fault = {stage, action};
        const run = await build(sandbox, fault);
        assertStoppedAt(run, fault);
        if (action === 'ctrl-c') {
          assertInterrupted(run);
          await sandbox.assertClean(`build interrupted at ${stage}`, {ports: portsOf(run), allow: HOME_CACHES});
          return;
        }
        const next = await build(sandbox);
        assert.equal(next.exitCode, 0, describeRun(next));
        await sandbox.assertClean(`build killed at ${stage}, then built again`, {ports: portsOf(run, next), allow: OUTPUT});
      });
    }
  });

});
