/**
 * The snapshot service over several machines, with an in-memory provider (registered as the
 * virtualbox target): the same NAME on every machine, names checked on all machines before any
 * is restored or deleted, a target without snapshots refused before anything is touched, and a
 * save interrupted by Ctrl-C rolled back on the machines it had reached.
 */
import assert from 'node:assert/strict';
import {writeFile} from 'node:fs/promises';
import path from 'node:path';
import {describe, test} from 'node:test';
import {BoxError, InterruptedError} from '../../src/core/errors.js';
import type {MachineContext, SnapshotInfo, SnapshotSupport} from '../../src/providers/provider.js';
import {snapshotDelete, snapshotList, snapshotRestore, snapshotSave} from '../../src/services/snapshot.js';
import {up} from '../../src/services/up.js';
import {GatedProvider} from './gated-provider.js';
import {servicesSandbox} from './services-sandbox.js';

/** GatedProvider with snapshots kept in memory per machine, logging each operation. */
class SnapshotProvider extends GatedProvider {
  store = new Map<string, SnapshotInfo[]>();
  log: string[] = [];
  /** Called after a machine's save finished (the test aborts there). */
  afterSave?: (machine: string) => void;
  supported = true;

  get snapshots(): SnapshotSupport | undefined {
    if (!this.supported) return undefined;
    const of = (ctx: MachineContext) => this.store.get(ctx.machine.name) ?? [];
    return {
      list: async (ctx) => of(ctx),
      save: async (ctx, name) => {
        const snap = {name, createdAt: new Date().toISOString(), withMemory: this.running.has(ctx.machine.name)};
        this.store.set(ctx.machine.name, [...of(ctx), snap]);
        this.log.push(`save:${ctx.machine.name}:${name}`);
        this.afterSave?.(ctx.machine.name);
        return snap;
      },
      restore: async (ctx, snap) => {
        this.log.push(`restore:${ctx.machine.name}:${snap.name}`);
        return {live: snap.withMemory};
      },
      delete: async (ctx, snap) => {
        this.store.set(ctx.machine.name, of(ctx).filter((s) => s.name !== snap.name));
        this.log.push(`delete:${ctx.machine.name}:${snap.name}`);
      },
    };
  }
}

describe('snapshot service', () => {
  const fake = new SnapshotProvider();
  const sandbox = servicesSandbox('box-snapsvc-', fake, () => {
    fake.reset();
    fake.store.clear();
    fake.log = [];
    fake.afterSave = undefined;
    fake.supported = true;
  });
  const opts = sandbox.opts;
  const twoMachines = async () => {
    await writeFile(path.join(sandbox.project(), 'Boxfile'), 'basebox: debian-12-minimal\ntarget: virtualbox\nmachines:\n  web:\n    depends_on: [db]\n  db:\n');
    await up({...opts(), destroyOnError: true});
  };

  test('save puts the same NAME on every machine; list shows it on each', async () => {
    await twoMachines();
    const saved = await snapshotSave({...opts(), snapshot: 'before', force: false});
    assert.deepEqual(saved.machines.map((m) => `${m.name}:${m.snapshot.name}`).sort(), ['db:before', 'web:before']);
    const list = await snapshotList(opts());
    assert.deepEqual(list.machines.map((m) => [m.name, m.snapshots.map((s) => s.name)]), [['web', ['before']], ['db', ['before']]]);
  });

  test('restore and delete check every machine has NAME before touching any', async () => {
    await twoMachines();
    await snapshotSave({...opts(), names: ['db'], snapshot: 'only-db', force: false});
    for (const verb of [snapshotRestore, snapshotDelete]) {
      await assert.rejects(verb({...opts(), snapshot: 'only-db'}), (e: BoxError) => {
        assert.equal(e.code, 'ERR_SNAPSHOT_UNKNOWN');
        assert.equal(e.exitCode, 2);
        assert.match(e.message, /web has no snapshot named only-db; it has none/);
        return true;
      });
    }
    assert.deepEqual(fake.log, ['save:db:only-db'], 'nothing was restored or deleted');
  });

  test('a target without snapshots is refused (exit 2, "not supported yet") before anything is saved', async () => {
    await twoMachines();
    fake.supported = false;
    await assert.rejects(snapshotSave({...opts(), snapshot: 's', force: false}), (e: BoxError) => {
      assert.equal(e.code, 'ERR_NOT_SUPPORTED');
      assert.equal(e.exitCode, 2);
      assert.match(e.message, /not supported yet on the virtualbox target/);
      return true;
    });
    assert.deepEqual(fake.log, []);
  });

  test('Ctrl-C during a save: the machines already saved are rolled back, the rest never start, and it is reported as interrupted', async () => {
    await twoMachines();
    const controller = new AbortController();
    fake.afterSave = () => controller.abort(new InterruptedError());
    await assert.rejects(snapshotSave({...opts(), signal: controller.signal, parallel: 1, snapshot: 'cut', force: false}), InterruptedError);
    assert.deepEqual(fake.log, ['save:db:cut', 'delete:db:cut'], 'db (first: web depends on it) saved then deleted; web never saved');
    assert.deepEqual((await snapshotList(opts())).machines.flatMap((m) => m.snapshots), []);
  });
});
