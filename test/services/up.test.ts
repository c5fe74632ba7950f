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
import lockfile from 'proper-lockfile';
import {readMachineIndex, readMachineState, updateMachineState, writeMachineState, indexMachine, unindexMachine} from '../../src/core/state.js';
import {silentUi} from '../../src/core/ui.js';
import type {MachineContext, Provider, StatusReport} from '../../src/providers/provider.js';
import {registerProvider} from '../../src/providers/registry.js';
import {runCreateSteps} from '../../src/providers/shared/machine-files.js';
import {destroy} from '../../src/services/destroy.js';
import {halt} from '../../src/services/halt.js';
import {provision} from '../../src/services/provision.js';
import {status} from '../../src/services/status.js';
import {up} from '../../src/services/up.js';
import {tempDir} from '../helpers/cli.js';

class FakeProvider implements Provider {
  readonly name = 'virtualbox' as const;
  running = new Set<string>();
  failNextUp?: Error;
  /** Like a real provider's create steps: a failed first up removes its own record before throwing. */
  cleanOnFailure = false;
  /** Like a real provider whose create step fails and whose cleanup cannot undo it either. */
  createCleanupFails = false;
  commands: string[] = [];
  calls: string[] = [];
  /** What the guest's cloud-init says to box up's probe (services/lifecycle/cloud-init.ts): none by default. */
  cloudInit: 'absent' | 'done' | 'error' | 'degraded' = 'absent';
  /** Each probe, in order with `commands` (its index in `commands` when it ran). */
  probes: number[] = [];
  /** Like the qemu provider after a box-built guest said on its console that it has no cloud-init. */
  saysNoCloudInit = false;

  async verify(): Promise<void> {}
  async up(ctx: MachineContext): Promise<{created: boolean; cloudInitAbsent?: boolean}> {
    this.calls.push(`up ${ctx.machine.name}`);
    const existing = await readMachineState(ctx.project.root, ctx.machine.name);
    if (!existing) {
      await mkdir(ctx.dir, {recursive: true});
      // As the real providers: recorded first, marked finished by the up service at the end.
      await writeMachineState(ctx.project.root, {machine: ctx.machine.name, target: 'virtualbox', createdAt: new Date().toISOString(), provisioned: false, upCompleted: false, provider: {}});
      await indexMachine({project: ctx.project.name, projectRoot: ctx.project.root, machine: ctx.machine.name, target: 'virtualbox'});
    }
    if (this.createCleanupFails && !existing) {
      this.createCleanupFails = false;
      await runCreateSteps(ctx, [{name: 'boot', run: async () => { throw new BoxError('ERR_TEST', 'boot failed'); }, cleanup: async () => { throw new Error('VM stuck'); }}], {}, 'its VM');
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
    return {created: !existing, ...(this.saysNoCloudInit ? {cloudInitAbsent: true} : {})};
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
      exec: async (command, options) => {
        if (command.startsWith("command -v 'cloud-init'")) {
          this.probes.push(this.commands.length);
          const rc = {absent: 0, done: 0, error: 1, degraded: 2}[this.cloudInit];
          options?.onOutput?.('stdout', this.cloudInit === 'absent' ? 'box-cloud-init:absent\n'
            : `box-cloud-init:rc=${rc}\nstatus: ${this.cloudInit === 'degraded' ? 'done' : this.cloudInit}\ntime: now\ndetail:\n${this.cloudInit === 'error' ? "('scripts_user', RuntimeError('runcmd failed'))" : 'DataSourceNoCloud [seed=/dev/sr0]'}\n`);
          return 0;
        }
        this.commands.push(command);
        return 0;
      },
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
    if (previousHome === undefined) delete process.env.BOX_HOME; // assigning undefined would set the string 'undefined'
    else process.env.BOX_HOME = previousHome;
    await home.cleanup();
  });
  beforeEach(async () => {
    project = await tempDir('box-up-project-');
    await writeFile(path.join(project.dir, 'Boxfile'), 'basebox: debian-12-minimal\ntarget: virtualbox\nprovisioners:\n  - type: shell\n    inline: echo provisioned-marker\n');
    fake.commands = [];
    fake.calls = [];
    fake.probes = [];
    fake.cloudInit = 'absent';
    fake.saysNoCloudInit = false;
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
    // A machine whose first up finished is the user's: a failed up later leaves it as it was.
    await up({...opts(), destroyOnError: true});
    warnings.length = 0;
    fake.failNextUp = new BoxError('ERR_SSH_TIMEOUT', 'again');
    await assert.rejects(up({...opts(), ui, destroyOnError: true}));
    assert.deepEqual(warnings, ['default was left as it is; see `box status default`.']);
    await destroy(opts());
    await project.cleanup();
  });

  test('create steps whose cleanup failed are the only recovery layer: the service does not destroy on top', async () => {
    const warnings: string[] = [];
    const ui = Object.assign(Object.create(silentUi()) as ReturnType<typeof silentUi>, {warn: (m: string) => { warnings.push(m); }});
    fake.createCleanupFails = true;
    await assert.rejects(up({...opts(), ui, destroyOnError: true}), /boot failed/);
    assert.deepEqual(fake.calls, ['up default'], 'no second destroy');
    assert.equal(warnings.filter((w) => /destroying the new machine default/.test(w)).length, 1, warnings.join('\n'));
    assert.match(warnings.at(-1)!, /could not remove its VM \(boot\); it stays recorded in \.box\/\. Run `box destroy default` to retry/);
    assert.ok(existsSync(path.join(project.dir, '.box', 'machines', 'default', 'state.json')), 'the record stays for box destroy');
    await destroy(opts());
    assert.equal(existsSync(path.join(project.dir, '.box')), false);
    await project.cleanup();
  });

  test('--no-destroy-on-error keeps the new machine, and a failed up of an existing machine never destroys it', async () => {
    fake.failNextUp = new BoxError('ERR_SSH_TIMEOUT', 'guest did not answer');
    await assert.rejects(up({...opts(), destroyOnError: false}));
    assert.ok(existsSync(path.join(project.dir, '.box', 'machines', 'default', 'state.json')));
    await destroy(opts());
    await up({...opts(), destroyOnError: true});
    await halt({...opts(), force: false, timeoutSeconds: 5});
    fake.calls = [];
    fake.failNextUp = new BoxError('ERR_SSH_TIMEOUT', 'again');
    await assert.rejects(up({...opts(), destroyOnError: true}), /again/);
    assert.ok(!fake.calls.includes('destroy default'));
    assert.equal((await readMachineIndex()).filter((e) => e.projectRoot === project.dir).length, 1);
    await destroy(opts());
    assert.equal(existsSync(path.join(project.dir, '.box')), false);
    await project.cleanup();
  });

  test('a machine whose first up never finished and is stopped: status says broken with `box up` as the repair, and up creates it again', async () => {
    fake.failNextUp = new BoxError('ERR_SSH_TIMEOUT', 'guest did not answer');
    await assert.rejects(up({...opts(), destroyOnError: false}));
    assert.equal((await readMachineState(project.dir, 'default'))?.upCompleted, false);
    const {machines: [report]} = await status(opts());
    assert.equal(report.status, 'broken');
    assert.match(report.reason!, /first `box up` did not finish/);
    assert.equal(report.repair, 'box up default');
    await assert.rejects(provision(opts()), (e: any) => e.code === 'ERR_NOT_RUNNING' && /box up default/.test(e.hint));

    fake.calls = [];
    const again = await up({...opts(), destroyOnError: true});
    assert.deepEqual(fake.calls, ['destroy default', 'up default']);
    assert.equal(again.machines[0].created, true);
    assert.equal((await readMachineState(project.dir, 'default'))?.upCompleted, true);
    assert.equal((await status(opts())).machines[0].status, 'running');
    await destroy(opts());
    await project.cleanup();
  });

  test('a machine whose first up never finished but still runs is broken until an up finishes it, without creating it again', async () => {
    await up({...opts(), destroyOnError: true});
    await updateMachineState(project.dir, 'default', (s) => { s.upCompleted = false; });
    const {machines: [report]} = await status(opts());
    assert.equal(report.status, 'broken');
    assert.match(report.reason!, /the guest runs, but box has not made it ready/);
    assert.equal(report.repair, 'box up default');
    fake.calls = [];
    const finished = await up({...opts(), destroyOnError: true});
    assert.deepEqual(fake.calls, ['up default']);
    assert.equal(finished.machines[0].created, false);
    assert.equal((await status(opts())).machines[0].status, 'running');
    await destroy(opts());
    await project.cleanup();
  });

  test('while a box process holds the lock of a machine in its first up, status shows what the VM does, not broken', async () => {
    await up({...opts(), destroyOnError: true});
    await updateMachineState(project.dir, 'default', (s) => { s.upCompleted = false; });
    const release = await lockfile.lock(path.join(project.dir, '.box', 'machines', 'default', 'machine'), {realpath: false});
    try {
      const {machines: [report]} = await status(opts());
      assert.equal(report.status, 'running');
      assert.equal(report.details?.firstUp, 'in progress');
    } finally {
      await release();
    }
    await destroy(opts());
    await project.cleanup();
  });

  test('hostname is set over the communicator on the first up, again only when the Boxfile changes it', async () => {
    await writeFile(path.join(project.dir, 'Boxfile'), 'basebox: debian-12-minimal\ntarget: virtualbox\nhostname: web-1.example.test\n');
    const first = await up({...opts(), destroyOnError: true});
    const setters = () => fake.commands.filter((c) => c.includes('hostnamectl set-hostname'));
    assert.equal(setters().length, 1);
    assert.ok(setters()[0].includes("sh web-1.example.test"), setters()[0]);
    assert.equal(typeof first.machines[0].timings.hostname, 'number');
    assert.equal((await readMachineState(project.dir, 'default'))?.hostname, 'web-1.example.test');
    await halt({...opts(), force: false, timeoutSeconds: 5});
    await up({...opts(), destroyOnError: true});
    assert.equal(setters().length, 1, 'an unchanged name is not set again');
    await writeFile(path.join(project.dir, 'Boxfile'), 'basebox: debian-12-minimal\ntarget: virtualbox\nhostname: web-2\n');
    await up({...opts(), destroyOnError: true});
    assert.equal(setters().length, 2);
    assert.ok(setters()[1].includes('sh web-2'));
    await destroy(opts());
    await project.cleanup();
  });

  test('a restart with nothing to do in the guest does not wait for cloud-init; one that provisions or names the host does, and a first boot always', async () => {
    fake.cloudInit = 'done';
    await up({...opts(), destroyOnError: true});
    assert.equal(fake.probes.length, 1, 'the first boot waits');
    await halt({...opts(), force: false, timeoutSeconds: 5});
    const plain = await up({...opts(), destroyOnError: true});
    assert.equal(fake.probes.length, 1, 'a plain restart returns once SSH answers');
    assert.equal(plain.machines[0].cloudInit, undefined);
    await halt({...opts(), force: false, timeoutSeconds: 5});
    await up({...opts(), destroyOnError: true, provision: true});
    assert.equal(fake.probes.length, 2, 'provisioners to run: cloud-init first');
    await halt({...opts(), force: false, timeoutSeconds: 5});
    await writeFile(path.join(project.dir, 'Boxfile'), 'basebox: debian-12-minimal\ntarget: virtualbox\nhostname: renamed\n');
    await up({...opts(), destroyOnError: true});
    assert.equal(fake.probes.length, 3, 'a host name to set: cloud-init sets it too, never raced');
    await halt({...opts(), force: false, timeoutSeconds: 5});
    await writeFile(path.join(project.dir, 'Boxfile'), 'basebox: debian-12-minimal\ntarget: virtualbox\nhostname: renamed\nprovisioners:\n  - {type: shell, inline: echo again, run: always}\n');
    await up({...opts(), destroyOnError: true});
    assert.equal(fake.probes.length, 4, 'a run: always provisioner');
    await destroy(opts());
    await project.cleanup();
  });

  test('a guest that said at boot it has no cloud-init is not asked over SSH', async () => {
    fake.cloudInit = 'done';
    fake.saysNoCloudInit = true;
    const first = await up({...opts(), destroyOnError: true});
    assert.deepEqual(fake.probes, []);
    assert.equal(first.machines[0].cloudInit, undefined);
    assert.ok(fake.commands.some((c) => c.includes('provisioned-marker')), 'the provisioners still ran');
    await destroy(opts());
    await project.cleanup();
  });

  test('up waits for cloud-init once the guest answers, before the provisioners; an error fails the up naming the machine; degraded warns', async () => {
    fake.cloudInit = 'done';
    const first = await up({...opts(), destroyOnError: true});
    assert.deepEqual(fake.probes, [0], 'one probe, before the provisioner ran');
    assert.ok(fake.commands.some((c) => c.includes('provisioned-marker')));
    assert.deepEqual(first.machines[0].cloudInit, {status: 'done'});
    assert.equal(typeof first.machines[0].timings.cloudInit, 'number');
    await up({...opts(), destroyOnError: true});
    assert.equal(fake.probes.length, 1, 'an up of a running machine does not ask again');

    await halt({...opts(), force: false, timeoutSeconds: 5});
    fake.cloudInit = 'degraded';
    const warnings: string[] = [];
    const ui = Object.assign(Object.create(silentUi()) as ReturnType<typeof silentUi>, {warn: (m: string) => { warnings.push(m); }});
    const degraded = await up({...opts(), ui, destroyOnError: true, provision: true});
    assert.equal(degraded.machines[0].cloudInit?.status, 'degraded');
    assert.match(warnings.join('\n'), /^default: cloud-init finished with recoverable errors:\nstatus: done\ndetail:/);

    await halt({...opts(), force: false, timeoutSeconds: 5});
    fake.cloudInit = 'error';
    fake.commands = [];
    await assert.rejects(up({...opts(), destroyOnError: true, provision: true}), (error: {code: string; message: string}) => {
      assert.equal(error.code, 'ERR_CLOUD_INIT_FAILED');
      assert.match(error.message, /^cloud-init failed in machine default \(cloud-init status exit code 1\):\nstatus: error\ndetail:\n\('scripts_user'/);
      return true;
    });
    assert.deepEqual(fake.commands, [], 'no provisioner ran after cloud-init failed');
    await destroy(opts());
    await project.cleanup();
  });

  test('an unreadable state.json: status says broken naming the repair, up and provision refuse with ERR_STATE_CORRUPT, destroy removes it', async () => {
    await up({...opts(), destroyOnError: true});
    const file = path.join(project.dir, '.box', 'machines', 'default', 'state.json');
    const text = await readFile(file, 'utf8');
    for (const garbage of [text.slice(0, 40), '', '[1,2]', '{"machine": "default"}']) {
      await writeFile(file, garbage);
      const {machines: [report]} = await status(opts());
      assert.equal(report.status, 'broken', garbage);
      assert.match(report.reason!, /state\.json is unreadable/);
      assert.equal(report.repair, 'box destroy default');
      await assert.rejects(up({...opts(), destroyOnError: true}), (e: any) => e.code === 'ERR_STATE_CORRUPT' && /box destroy default/.test(e.hint));
      await assert.rejects(provision(opts()), (e: any) => e.code === 'ERR_NOT_RUNNING' && /box destroy default/.test(e.hint));
    }
    const result = await destroy(opts());
    assert.equal(result.machines[0].destroyed, true);
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
