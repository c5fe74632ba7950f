/**
 * Lifecycle events: setup after a machine's first up, configure on every running machine when
 * a machine comes or goes (with the cluster map), shutdown before halt and destroy. Host hooks
 * (`run`) really run here; guest hooks (`run_remote`) go through the provider's communicator,
 * which records what the guest would run (a real guest runs them in test/e2e).
 */
import assert from 'node:assert/strict';
import {readFile, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {describe, test} from 'node:test';
import {BoxError} from '../../src/core/errors.js';
import {readMachineState} from '../../src/core/state.js';
import {destroy} from '../../src/services/destroy.js';
import {halt} from '../../src/services/halt.js';
import type {ClusterMap} from '../../src/services/lifecycle/hooks.js';
import {up} from '../../src/services/up.js';
import {GatedProvider} from './gated-provider.js';
import {servicesSandbox} from './services-sandbox.js';

// A host hook that appends one JSON line per call: the event, the machine and the cluster map.
const RECORD = `node -e 'require("fs").appendFileSync("hooks.log", JSON.stringify({event: process.env.BOX_EVENT, machine: process.env.BOX_MACHINE, project: process.env.BOX_PROJECT, cluster: JSON.parse(process.env.BOX_CLUSTER_JSON)}) + "\\n")'`;

interface Logged {
  event: string;
  machine: string;
  project: string;
  cluster: ClusterMap;
}

describe('lifecycle hooks', () => {
  const fake = new GatedProvider();
  const sandbox = servicesSandbox('box-hooks-', fake, () => fake.reset());
  const opts = sandbox.opts;
  const logged = async (): Promise<Logged[]> => (await readFile(path.join(sandbox.project(), 'hooks.log'), 'utf8').catch(() => '')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Logged);
  const boxfile = (text: string) => writeFile(path.join(sandbox.project(), 'Boxfile'), `name: shop\nbasebox: debian-12-minimal\ntarget: virtualbox\n${text}`);

  test('setup runs once, after the first up, the project\'s hooks before the machine\'s own', async () => {
    await boxfile(`hooks:\n  setup:\n    - run: ${JSON.stringify(RECORD)}\nmachines:\n  web:\n    hooks:\n      setup:\n        - {name: web-setup, run_remote: "echo web is set up"}\n`);
    await up({...opts(), destroyOnError: true});
    const [entry, ...rest] = await logged();
    assert.equal(rest.length, 0);
    assert.equal(entry!.event, 'setup');
    assert.equal(entry!.machine, 'web');
    assert.equal(entry!.project, 'shop');
    assert.deepEqual(entry!.cluster.machines.map((m) => [m.name, m.fqdn, m.status, m.roles]), [['web', 'web.shop', 'running', ['web']]]);
    const scripts = fake.guest.flatMap((g) => g.uploaded);
    assert.ok(scripts.some((s) => s.includes('echo web is set up')), 'the guest hook ran after the host one');
    assert.ok(scripts.some((s) => s.includes('/var/lib/box/cluster.json')), 'the cluster map was written in the guest first');
    assert.equal((await readMachineState(sandbox.project(), 'web'))?.setupDone, true);

    await halt({...opts(), force: false, timeoutSeconds: 5});
    await up({...opts(), destroyOnError: true});
    assert.equal((await logged()).length, 1, 'not again on a later up');
  });

  test('configure runs on every running machine when machines come up or go away, with the cluster map', async () => {
    await boxfile(`machines:\n  web:\n    roles: [frontend, lb]\n    depends_on: [db]\n    hooks:\n      configure:\n        - run: ${JSON.stringify(RECORD)}\n  db:\n`);
    await up({...opts(), destroyOnError: true});
    let entries = await logged();
    assert.equal(entries.length, 1, 'once per command, not per machine');
    assert.equal(entries[0]!.event, 'configure');
    assert.deepEqual(entries[0]!.cluster.changed, {up: ['web', 'db'], down: []});
    assert.deepEqual(entries[0]!.cluster.machines.map((m) => [m.name, m.status, m.roles, m.ssh?.port]), [['web', 'running', ['frontend', 'lb'], 2200], ['db', 'running', ['db'], 2201]]);

    await up({...opts(), destroyOnError: true});
    assert.equal((await logged()).length, 1, 'nothing came up: no configure');

    await halt({...opts(), names: ['db'], force: false, timeoutSeconds: 5});
    entries = await logged();
    assert.equal(entries.length, 2);
    assert.deepEqual(entries[1]!.cluster.changed, {up: [], down: ['db']});
    assert.deepEqual(entries[1]!.cluster.machines.map((m) => [m.name, m.status]), [['web', 'running'], ['db', 'stopped']]);

    await halt({...opts(), names: ['web'], force: false, timeoutSeconds: 5});
    await up({...opts(), names: ['db'], destroyOnError: true});
    assert.equal((await logged()).length, 2, 'web is not running: nothing to configure');
  });

  test('shutdown runs in the guest before halt and destroy, not before halt --force', async () => {
    await boxfile('hooks:\n  shutdown:\n    - run_remote: "systemctl stop app-marker"\n');
    const stops = () => fake.guest.filter((g) => g.uploaded.some((s) => s.includes('app-marker'))).length;
    await up({...opts(), destroyOnError: true});
    await halt({...opts(), force: true, timeoutSeconds: 5});
    assert.equal(stops(), 0);
    await up({...opts(), destroyOnError: true});
    await halt({...opts(), force: false, timeoutSeconds: 5});
    assert.equal(stops(), 1);
    const haltAt = fake.events.lastIndexOf('halt:start:default');
    assert.ok(haltAt >= 0);
    await up({...opts(), destroyOnError: true});
    await destroy(opts());
    assert.equal(stops(), 2);
    const env = fake.guest.find((g) => g.uploaded.some((s) => s.includes('app-marker')))!.env!;
    assert.equal(env.BOX_EVENT, 'shutdown');
    assert.equal(JSON.parse(env.BOX_CLUSTER_JSON!).machines[0].name, 'default');
  });

  test('a failing hook fails its command with the event, the hook and the exit code; a failed setup is a failed first up', async () => {
    await boxfile('hooks:\n  setup:\n    - {name: migrate, run_remote: "exit 3 # migrate-marker"}\n');
    fake.guestExit.set('migrate-marker', 3);
    const error = await up({...opts(), destroyOnError: true}).then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof BoxError);
    assert.equal(error.code, 'ERR_HOOK_FAILED');
    assert.match(error.message, /The setup hook migrate of default exited with code 3/);
    assert.deepEqual(error.details, {machine: 'default', event: 'setup', hook: 'migrate', exitCode: 3});
    assert.equal(await readMachineState(sandbox.project(), 'default'), undefined, 'the new machine was destroyed');

    await boxfile(`hooks:\n  shutdown:\n    - run: "echo draining; exit 4"\n`);
    await up({...opts(), destroyOnError: true});
    const failed = await halt({...opts(), force: false, timeoutSeconds: 5}).then(() => undefined, (e: unknown) => e);
    assert.ok(failed instanceof BoxError && failed.code === 'ERR_HOOK_FAILED', String(failed));
    assert.match(failed.message, /The shutdown hook run "echo draining; exit 4" \(#1\) of default exited with code 4\.\nLast 1 lines of output:\n {2}draining/);
    assert.ok(fake.running.has('default'), 'the machine was not halted');
  });
});
