/**
 * runCreateSteps, the one recovery layer of a first up on every target: a failure undoes what
 * the steps made (in reverse, saying so first) and removes the record; --no-destroy-on-error
 * keeps a failed machine but never an interrupted one; a cleanup that fails keeps the record and
 * marks the error so that the up service does not destroy again on top.
 */
import assert from 'node:assert/strict';
import {existsSync} from 'node:fs';
import {mkdir} from 'node:fs/promises';
import path from 'node:path';
import {after, before, describe, test} from 'node:test';
import {BoxError, InterruptedError} from '../../../src/core/errors.js';
import {indexMachine, readMachineIndex, writeMachineState} from '../../../src/core/state.js';
import type {Step, StepOutcome} from '../../../src/core/steps.js';
import {silentUi} from '../../../src/core/ui.js';
import type {MachineContext} from '../../../src/providers/provider.js';
import {createStepsUndone, runCreateSteps} from '../../../src/providers/shared/machine-files.js';
import {tempDir} from '../../helpers/cli.js';

describe('runCreateSteps', () => {
  let home: Awaited<ReturnType<typeof tempDir>>;
  const previousHome = process.env.BOX_HOME;
  before(async () => {
    home = await tempDir('box-create-steps-home-');
    process.env.BOX_HOME = home.dir;
  });
  after(async () => {
    process.env.BOX_HOME = previousHome;
    await home.cleanup();
  });

  /** A recorded new machine (as a provider records it before its steps) and a ui that keeps warnings. */
  async function newMachine(options: {keepOnError?: boolean; signal?: AbortSignal} = {}) {
    const project = await tempDir('box-create-steps-');
    const dir = path.join(project.dir, '.box', 'machines', 'default');
    await mkdir(dir, {recursive: true});
    await writeMachineState(project.dir, {machine: 'default', target: 'qemu', createdAt: new Date().toISOString(), provisioned: false, upCompleted: false, provider: {}});
    await indexMachine({project: 'p', projectRoot: project.dir, machine: 'default', target: 'qemu'});
    const warnings: string[] = [];
    const ui = Object.assign(Object.create(silentUi()) as ReturnType<typeof silentUi>, {warn: (m: string) => { warnings.push(m); }});
    const ctx = {project: {root: project.dir, name: 'p'}, machine: {name: 'default'}, dir, ui, signal: options.signal ?? new AbortController().signal, keepOnError: options.keepOnError} as unknown as MachineContext;
    const indexed = async () => (await readMachineIndex()).some((e) => e.projectRoot === project.dir);
    return {project, dir, ctx, warnings, indexed};
  }

  /** Steps that record their cleanups; `fail` names the step whose run throws. */
  function stepsFailingAt(fail: string, log: Array<[string, StepOutcome]>, options: {cleanupFails?: string; abort?: AbortController} = {}): Array<Step<object>> {
    return ['disk', 'boot', 'ready'].map((name) => ({
      name,
      run: async () => {
        if (name !== fail) return;
        if (options.abort) {
          options.abort.abort();
          throw new InterruptedError();
        }
        throw new BoxError('ERR_TEST', `${name} failed`);
      },
      cleanup: async (_s: object, outcome: StepOutcome) => {
        log.push([name, outcome]);
        if (name === options.cleanupFails) throw new Error(`cannot undo ${name}`);
      },
    }));
  }

  test('a failure in any step undoes the earlier steps in reverse, says so once, and removes the record', async () => {
    for (const [fail, undone] of [['disk', ['disk']], ['boot', ['boot', 'disk']], ['ready', ['ready', 'boot', 'disk']]] as const) {
      const m = await newMachine();
      const log: Array<[string, StepOutcome]> = [];
      await assert.rejects(runCreateSteps(m.ctx, stepsFailingAt(fail, log), {}, 'what it made'), (error: unknown) => createStepsUndone(error) && (error as Error).message === `${fail} failed`);
      assert.deepEqual(log, undone.map((name) => [name, 'failed']), fail);
      assert.deepEqual(m.warnings, ['Failed: destroying the new machine default (keep it with --no-destroy-on-error).'], fail);
      assert.equal(existsSync(path.join(m.dir, 'state.json')), false, `${fail}: the record is gone`);
      assert.equal(await m.indexed(), false, `${fail}: and so is its index entry`);
      await m.project.cleanup();
    }
  });

  test('--no-destroy-on-error keeps a failed new machine (no cleanups, record kept) but not an interrupted one', async () => {
    const kept = await newMachine({keepOnError: true});
    const log: Array<[string, StepOutcome]> = [];
    await assert.rejects(runCreateSteps(kept.ctx, stepsFailingAt('boot', log), {}, 'what it made'), (error: unknown) => !createStepsUndone(error));
    assert.deepEqual(log, []);
    assert.ok(existsSync(path.join(kept.dir, 'state.json')));
    assert.ok(!kept.warnings.some((w) => /destroying the new machine/.test(w)), kept.warnings.join('\n'));
    await kept.project.cleanup();

    const abort = new AbortController();
    const interrupted = await newMachine({keepOnError: true, signal: abort.signal});
    await assert.rejects(runCreateSteps(interrupted.ctx, stepsFailingAt('ready', log, {abort}), {}, 'what it made'), InterruptedError);
    assert.deepEqual(log, [['ready', 'cancelled'], ['boot', 'cancelled'], ['disk', 'cancelled']]);
    assert.deepEqual(interrupted.warnings, ['Interrupted: destroying the new machine default.']);
    assert.equal(existsSync(path.join(interrupted.dir, 'state.json')), false);
    await interrupted.project.cleanup();
  });

  test('a cleanup that fails keeps the record for `box destroy`, runs the other cleanups, and marks the error as handled', async () => {
    const m = await newMachine();
    const log: Array<[string, StepOutcome]> = [];
    let thrown: unknown;
    await assert.rejects(runCreateSteps(m.ctx, stepsFailingAt('ready', log, {cleanupFails: 'boot'}), {}, 'its QEMU or disk'), (error: unknown) => { thrown = error; return true; });
    assert.equal(createStepsUndone(thrown), true, 'the up service must not destroy again on top');
    assert.deepEqual(log.map(([name]) => name), ['ready', 'boot', 'disk']);
    assert.ok(existsSync(path.join(m.dir, 'state.json')));
    assert.equal(await m.indexed(), true);
    assert.match(m.warnings.at(-1)!, /default: could not remove its QEMU or disk \(boot\); it stays recorded in \.box\/\. Run `box destroy default` to retry\./);
    await m.project.cleanup();
  });
});
