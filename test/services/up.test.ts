/**
 * The lifecycle services are provider-agnostic: here they drive an in-memory provider
 * (registered as the virtualbox target) and a recording communicator, so the rules of `up`
 * are checked in milliseconds: provisioners on first up only, --provision / --no-provision,
 * destroy of a NEW machine on failure (not of an existing one), index entries.
 */
import assert from 'node:assert/strict';
import {existsSync} from 'node:fs';
import {mkdir, readFile, rm, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {after, before, beforeEach, describe, test} from 'node:test';
import type {Communicator} from '../../src/communicators/communicator.js';
import {BoxError} from '../../src/core/errors.js';
import {readMachineIndex, readMachineState, writeMachineState, indexMachine, unindexMachine} from '../../src/core/state.js';
import {silentUi} from '../../src/core/ui.js';
import type {MachineContext, Provider, StatusReport} from '../../src/providers/provider.js';
import {registerProvider} from '../../src/providers/registry.js';
import {destroy} from '../../src/services/destroy.js';
import {halt} from '../../src/services/halt.js';
import {provision} from '../../src/services/provision.js';
import {up} from '../../src/services/up.js';
import {tempDir} from '../helpers/cli.js';

class FakeProvider implements Provider {
  readonly name = 'virtualbox' as const;
  running = new Set<string>();
  failNextUp?: Error;
  /** Like a real provider's create steps: a failed first up removes its own record before throwing. */
  cleanOnFailure = false;
  commands: string[] = [];
  calls: string[] = [];

  async verify(): Promise<void> {}
  async up(ctx: MachineContext): Promise<{created: boolean}> {
    this.calls.push(`up ${ctx.machine.name}`);
    const existing = await readMachineState(ctx.project.root, ctx.machine.name);
    if (!existing) {
      await mkdir(ctx.dir, {recursive: true});
      await writeMachineState(ctx.project.root, {machine: ctx.machine.name, target: 'virtualbox', createdAt: new Date().toISOString(), provisioned: false, provider: {}});
      await indexMachine({project: ctx.project.name, projectRoot: ctx.project.root, machine: ctx.machine.name, target: 'virtualbox'});
    }
    if (this.failNextUp) {
      const e = this.failNextUp;
      this.failNextUp = undefined;
      if (this.cleanOnFailure && !existing) {
        await unindexMachine(ctx.project.root, ctx.machine.name);
        await rm(path.join(ctx.dir, 'state.json'), {force: true});
      }
      throw e;
    }
    this.running.add(ctx.machine.name);
    return {created: !existing};
  }
  async halt(ctx: MachineContext): Promise<void> { this.calls.push(`halt ${ctx.machine.name}`); this.running.delete(ctx.machine.name); }
  async destroy(ctx: MachineContext): Promise<void> {
    this.calls.push(`destroy ${ctx.machine.name}`);
    this.running.delete(ctx.machine.name);
    await unindexMachine(ctx.project.root, ctx.machine.name);
    await rm(path.join(ctx.dir, 'state.json'), {force: true});
  }
  async status(ctx: MachineContext): Promise<StatusReport> {
    if (this.running.has(ctx.machine.name)) return {status: 'running'};
    return {status: (await readMachineState(ctx.project.root, ctx.machine.name)) ? 'stopped' : 'not-created'};
  }
  async sshInfo() { return {host: '127.0.0.1', port: 2222, username: 'vagrant', privateKeyPath: '/dev/null'}; }
  async communicator(): Promise<Communicator> {
    return {
      waitForReady: async () => {},
      exec: async (command) => { this.commands.push(command); return 0; },
      // Scripts are uploaded then run: record what was uploaded too.
      upload: async (local) => { this.commands.push(await readFile(local, 'utf8').catch(() => `dir ${local}`)); },
      close: async () => {},
    };
  }
}

describe('up, provision, halt and destroy services (in-memory provider)', () => {
  const fake = new FakeProvider();
  let home: Awaited<ReturnType<typeof tempDir>>;
  let project: Awaited<ReturnType<typeof tempDir>>;
  const previousHome = process.env.BOX_HOME;
  const opts = () => ({cwd: project.dir, names: [] as string[], ui: silentUi(), signal: new AbortController().signal});

  before(async () => {
    home = await tempDir('box-up-home-');
    process.env.BOX_HOME = home.dir;
    registerProvider('virtualbox', async () => fake);
  });
  after(async () => {
    process.env.BOX_HOME = previousHome;
    await home.cleanup();
  });
  beforeEach(async () => {
    project = await tempDir('box-up-project-');
    await writeFile(path.join(project.dir, 'Boxfile'), 'basebox: debian-12-minimal\ntarget: virtualbox\nprovisioners:\n  - type: shell\n    inline: echo provisioned-marker\n');
    fake.commands = [];
    fake.calls = [];
    fake.running.clear();
  });

  test('the first up provisions and records it; a later up does not, unless --provision', async () => {
    const first = await up({...opts(), destroyOnError: true});
    assert.equal(first.machines[0].created, true);
    assert.equal(first.machines[0].ranProvisioners, true);
    assert.equal(first.machines[0].provisioned, true);
    assert.ok(fake.commands.some((c) => c.includes('provisioned-marker')));
    assert.equal((await readMachineState(project.dir, 'default'))?.provisioned, true);

    await halt({...opts(), force: false, timeoutSeconds: 5});
    fake.commands = [];
    const second = await up({...opts(), destroyOnError: true});
    assert.equal(second.machines[0].created, false);
    assert.equal(second.machines[0].ranProvisioners, false);
    assert.deepEqual(fake.commands, []);

    const forced = await up({...opts(), destroyOnError: true, provision: true});
    assert.equal(forced.machines[0].ranProvisioners, true);
    await project.cleanup();
  });

  test('--no-provision skips the provisioners on first up, and the next plain up runs them', async () => {
    const first = await up({...opts(), destroyOnError: true, provision: false});
    assert.equal(first.machines[0].ranProvisioners, false);
    assert.equal(first.machines[0].provisioned, false);
    const second = await up({...opts(), destroyOnError: true});
    assert.equal(second.machines[0].ranProvisioners, true);
    await project.cleanup();
  });

  test('a failed up of a NEW machine destroys it and its index entry', async () => {
    fake.failNextUp = new BoxError('ERR_SSH_TIMEOUT', 'guest did not answer');
    await assert.rejects(up({...opts(), destroyOnError: true}), /guest did not answer/);
    assert.deepEqual(fake.calls, ['up default', 'destroy default']);
    assert.equal(existsSync(path.join(project.dir, '.box')), false);
    assert.deepEqual((await readMachineIndex()).filter((e) => e.projectRoot === project.dir), []);
    await project.cleanup();
  });

  test('a failed first up says what became of the machine: removed by the provider, destroyed, kept, or left as it was', async () => {
    const warnings: string[] = [];
    const ui = Object.assign(Object.create(silentUi()) as ReturnType<typeof silentUi>, {warn: (m: string) => { warnings.push(m); }});
    // The provider's own cleanup removed everything (as the aws and qemu create steps do).
    fake.failNextUp = new BoxError('ERR_AWS_API', 'RunInstances failed');
    fake.cleanOnFailure = true;
    await assert.rejects(up({...opts(), ui, destroyOnError: true}), /RunInstances failed/);
    assert.deepEqual(warnings, ['Failed: the new machine default was removed; nothing of it is left.']);
    assert.ok(!fake.calls.includes('destroy default'));
    fake.cleanOnFailure = false;
    warnings.length = 0;
    fake.failNextUp = new BoxError('ERR_SSH_TIMEOUT', 'guest did not answer');
    await assert.rejects(up({...opts(), ui, destroyOnError: false}));
    assert.deepEqual(warnings, ['Failed: the new machine default is kept as the failed up left it (--no-destroy-on-error); `box destroy default` removes it.']);
    warnings.length = 0;
    fake.failNextUp = new BoxError('ERR_SSH_TIMEOUT', 'again');
    await assert.rejects(up({...opts(), ui, destroyOnError: true}));
    assert.deepEqual(warnings, ['default was left as it is; see `box status default`.']);
    await destroy(opts());
    await project.cleanup();
  });

  test('--no-destroy-on-error keeps the new machine, and a failed up of an existing machine never destroys it', async () => {
    fake.failNextUp = new BoxError('ERR_SSH_TIMEOUT', 'guest did not answer');
    await assert.rejects(up({...opts(), destroyOnError: false}));
    assert.ok(existsSync(path.join(project.dir, '.box', 'machines', 'default', 'state.json')));
    fake.failNextUp = new BoxError('ERR_SSH_TIMEOUT', 'again');
    await assert.rejects(up({...opts(), destroyOnError: true}), /again/);
    assert.ok(!fake.calls.includes('destroy default'));
    assert.equal((await readMachineIndex()).filter((e) => e.projectRoot === project.dir).length, 1);
    await destroy(opts());
    assert.equal(existsSync(path.join(project.dir, '.box')), false);
    await project.cleanup();
  });

  test('provision refuses a machine that is not running, naming the fix', async () => {
    await assert.rejects(provision(opts()), (e: any) => {
      assert.equal(e.code, 'ERR_NOT_RUNNING');
      assert.match(e.hint, /box up default/);
      return true;
    });
    await project.cleanup();
  });
});
