/**
 * The suspend service's refusals before any machine is touched: a target without suspend, and a
 * machine its target says it cannot suspend (`suspendRefusal`, e.g. an aws instance launched
 * without hibernation) while another machine could be.
 */
import assert from 'node:assert/strict';
import {writeFile} from 'node:fs/promises';
import path from 'node:path';
import {describe, test} from 'node:test';
import {BoxError, UsageError} from '../../src/core/errors.js';
import type {MachineContext, SuspendOutcome} from '../../src/providers/provider.js';
import {suspend} from '../../src/services/suspend.js';
import {up} from '../../src/services/up.js';
import {GatedProvider} from './gated-provider.js';
import {servicesSandbox} from './services-sandbox.js';

class SuspendingProvider extends GatedProvider {
  suspended: string[] = [];
  /** Machines whose target would refuse to suspend them. */
  refuse = new Set<string>();
  supported = true;

  get suspend(): ((ctx: MachineContext) => Promise<SuspendOutcome>) | undefined {
    if (!this.supported) return undefined;
    return async (ctx) => {
      this.suspended.push(ctx.machine.name);
      this.running.delete(ctx.machine.name);
      return {method: 'savestate'};
    };
  }

  async suspendRefusal(ctx: MachineContext): Promise<Error | undefined> {
    return this.refuse.has(ctx.machine.name) ? new UsageError('ERR_CANNOT_SUSPEND', `${ctx.machine.name} cannot be suspended`) : undefined;
  }
}

describe('suspend service refusals', () => {
  const fake = new SuspendingProvider();
  const sandbox = servicesSandbox('box-suspendsvc-', fake, () => {
    fake.reset();
    fake.suspended = [];
    fake.refuse.clear();
    fake.supported = true;
  });
  const twoMachines = async () => {
    await writeFile(path.join(sandbox.project(), 'Boxfile'), 'basebox: debian-12-minimal\ntarget: virtualbox\nmachines:\n  web: {}\n  db: {}\n');
    await up({...sandbox.opts(), destroyOnError: true});
  };

  test('a target without suspend is refused (exit 2, "not supported yet") before any machine is touched', async () => {
    await twoMachines();
    fake.supported = false;
    await assert.rejects(suspend(sandbox.opts()), (e: BoxError) => {
      assert.equal(e.code, 'ERR_NOT_SUPPORTED');
      assert.equal(e.exitCode, 2);
      assert.match(e.message, /not supported yet on the virtualbox target \(web, db\); nothing was changed/);
      assert.match(String(e.hint), /box halt web db/);
      return true;
    });
    assert.deepEqual([...fake.running].sort(), ['db', 'web']);
  });

  test('one machine its target cannot suspend: refused with its own error, and no machine is suspended', async () => {
    await twoMachines();
    fake.refuse.add('db');
    await assert.rejects(suspend(sandbox.opts()), (e: BoxError) => {
      assert.equal(e.code, 'ERR_CANNOT_SUSPEND');
      assert.equal(e.exitCode, 2);
      return true;
    });
    assert.deepEqual(fake.suspended, [], 'web was not suspended either');
    fake.refuse.clear();
    const done = await suspend(sandbox.opts());
    assert.deepEqual(done.machines.map((m) => [m.name, m.suspended]).sort(), [['db', true], ['web', true]]);
  });
});
