/**
 * Several machines at once: the lifecycle services run them concurrently (at most --parallel),
 * in the order depends_on asks (db before app before web; halt and destroy the other way), keep
 * one machine's failure its own, and stop starting machines after Ctrl-C. An in-memory provider
 * (registered as the virtualbox target) records when each machine's work starts and ends; no
 * test here depends on how long anything takes.
 */
import assert from 'node:assert/strict';
import {writeFile} from 'node:fs/promises';
import path from 'node:path';
import {PassThrough} from 'node:stream';
import {describe, test} from 'node:test';
import {BoxError, InterruptedError} from '../../src/core/errors.js';
import {readMachineState} from '../../src/core/state.js';
import {Ui} from '../../src/core/ui.js';
import {destroy} from '../../src/services/destroy.js';
import {halt} from '../../src/services/halt.js';
import {up} from '../../src/services/up.js';
import {GatedProvider} from './gated-provider.js';
import {servicesSandbox} from './services-sandbox.js';

/** The position of an event in the provider's log (fails the test when it is missing). */
function at(events: string[], event: string): number {
  const index = events.indexOf(event);
  assert.ok(index >= 0, `${event} happened: ${events.join(' ')}`);
  return index;
}

describe('lifecycle services over several machines', () => {
  const fake = new GatedProvider();
  const sandbox = servicesSandbox('box-parallel-', fake, () => fake.reset());
  const opts = sandbox.opts;
  const boxfile = (machines: string) => writeFile(path.join(sandbox.project(), 'Boxfile'), `basebox: debian-12-minimal\ntarget: virtualbox\nmachines:\n${machines}`);

  test('independent machines go up at once; --parallel 1 brings them up one after another', async () => {
    await boxfile('  web:\n  app:\n  db:\n');
    // Every machine's up is held until all three have started: only a concurrent up gets there.
    fake.autoRelease = false;
    const started = new Set<string>();
    fake.onStart = (name) => {
      started.add(name);
      if (started.size === 3) for (const m of started) fake.release('up', m);
    };
    const timer = setTimeout(() => { for (const m of ['web', 'app', 'db']) fake.release('up', m); }, 10_000);
    const result = await up({...opts(), destroyOnError: true});
    clearTimeout(timer);
    assert.equal(fake.maxActive, 3, `all three were up at once: ${fake.events.join(' ')}`);
    assert.deepEqual(result.machines.map((m) => m.name), ['web', 'app', 'db'], 'results in Boxfile order');

    Object.assign(fake, {events: [], maxActive: 0, autoRelease: true, onStart: undefined});
    await halt({...opts(), parallel: 1, force: false, timeoutSeconds: 5});
    assert.equal(fake.maxActive, 1, `one at a time: ${fake.events.join(' ')}`);
    assert.deepEqual(fake.events.filter((e) => e.includes(':start:')), ['halt:start:web', 'halt:start:app', 'halt:start:db']);
  });

  test('depends_on: up starts a machine after those it depends on, halt and destroy stop it before them', async () => {
    await boxfile('  web:\n    depends_on: [app]\n  app:\n    depends_on: [db]\n  db:\n  cache:\n');
    // db finishes only once cache has started: cache must not wait for the chain.
    fake.autoRelease = false;
    fake.onStart = (name) => {
      if (name === 'cache') fake.release('up', 'db');
      if (name !== 'db') fake.release('up', name);
    };
    const timer = setTimeout(() => fake.release('up', 'db'), 10_000);
    await up({...opts(), destroyOnError: true});
    clearTimeout(timer);
    Object.assign(fake, {autoRelease: true, onStart: undefined});
    const e = fake.events;
    assert.ok(at(e, 'up:end:db') < at(e, 'up:start:app'), e.join(' '));
    assert.ok(at(e, 'up:end:app') < at(e, 'up:start:web'), e.join(' '));
    assert.ok(at(e, 'up:start:cache') < at(e, 'up:end:db'), `cache waits for nothing: ${e.join(' ')}`);

    fake.events = [];
    await halt({...opts(), force: false, timeoutSeconds: 5});
    assert.ok(at(fake.events, 'halt:end:web') < at(fake.events, 'halt:start:app'), fake.events.join(' '));
    assert.ok(at(fake.events, 'halt:end:app') < at(fake.events, 'halt:start:db'), fake.events.join(' '));

    fake.events = [];
    await destroy(opts());
    assert.ok(at(fake.events, 'destroy:end:web') < at(fake.events, 'destroy:start:app'), fake.events.join(' '));
    assert.ok(at(fake.events, 'destroy:end:app') < at(fake.events, 'destroy:start:db'), fake.events.join(' '));
  });

  test('up of one machine ignores the depends_on of machines not selected', async () => {
    await boxfile('  web:\n    depends_on: [db]\n  db:\n');
    await up({...opts(), names: ['web'], destroyOnError: true});
    assert.deepEqual(fake.events, ['up:start:web', 'up:end:web']);
  });

  test('one failed machine: the others finish, its dependents are not started, and the error carries every machine', async () => {
    await boxfile('  web:\n    depends_on: [db]\n  db:\n  cache:\n');
    fake.failing.add('up:db');
    const error = await up({...opts(), destroyOnError: true}).then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof BoxError);
    // Two failures (db, and web that could not start): each named.
    assert.equal(error.code, 'ERR_MACHINES_FAILED');
    assert.match(error.message, /2 of 3 machines failed: web: web was not started: it depends on db, which failed\.; db: up of db failed on purpose/);
    const machines = error.partialResult?.machines as Array<{name: string; status?: string; error?: {code: string}}>;
    assert.deepEqual(machines.map((m) => [m.name, m.status ?? m.error?.code]), [['web', 'ERR_DEPENDENCY_FAILED'], ['db', 'ERR_TEST_FAIL'], ['cache', 'running']]);
    assert.ok(!fake.events.includes('up:start:web'), 'web never started');
    assert.equal(await readMachineState(sandbox.project(), 'db'), undefined, 'the failed new machine left no record');
    assert.ok(await readMachineState(sandbox.project(), 'cache'), 'the machine that went up keeps its record');
  });

  test('a single failed machine among several throws its own error, with the others\' results', async () => {
    await boxfile('  web:\n  db:\n');
    fake.failing.add('up:web');
    const error = await up({...opts(), destroyOnError: true}).then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof BoxError);
    assert.equal(error.code, 'ERR_TEST_FAIL');
    assert.deepEqual((error.partialResult?.machines as Array<{name: string}>).map((m) => m.name), ['web', 'db']);
  });

  test('Ctrl-C while two machines go up: both stop, the queued one never starts, and the new machines leave no record', async () => {
    await boxfile('  web:\n  app:\n  db:\n');
    fake.autoRelease = false;
    const controller = new AbortController();
    fake.onStart = () => { if (fake.active === 2) controller.abort(new InterruptedError()); };
    const error = await up({...opts({signal: controller.signal}), parallel: 2, destroyOnError: true}).then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof InterruptedError, String(error));
    assert.deepEqual(fake.events.filter((e) => e.includes(':start:')).sort(), ['up:start:app', 'up:start:web']);
    for (const name of ['web', 'app', 'db']) assert.equal(await readMachineState(sandbox.project(), name), undefined, name);
  });

  test('while machines work at once each line says which machine it is about', async () => {
    await boxfile('  web:\n  db:\n');
    const stream = Object.assign(new PassThrough(), {isTTY: false}) as unknown as NodeJS.WriteStream;
    let text = '';
    (stream as unknown as PassThrough).on('data', (d: Buffer) => { text += String(d); });
    await up({...opts({ui: new Ui({stream})}), destroyOnError: true});
    assert.match(text, /^web \| ✔ web is running/m);
    assert.match(text, /^db {2}\| ✔ db is running/m);
    text = '';
    await halt({...opts({ui: new Ui({stream})}), parallel: 1, force: false, timeoutSeconds: 5});
    assert.match(text, /^✔ web is stopped/m, 'one at a time: no prefix');
  });
});
