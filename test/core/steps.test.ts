import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {InterruptedError} from '../../src/core/errors.js';
import {runSteps, type StepOutcome} from '../../src/core/steps.js';
import {silentUi} from '../../src/core/ui.js';

describe('step runner', () => {
  test('Ctrl-C during the last step, which finishes anyway, cancels the run: cleanups run and it ends interrupted', async () => {
    const controller = new AbortController();
    const cleanups: Array<[string, StepOutcome]> = [];
    const steps = ['create', 'last'].map((name) => ({
      name,
      run: async () => { if (name === 'last') controller.abort(); },
      cleanup: async (_s: unknown, outcome: StepOutcome) => { cleanups.push([name, outcome]); },
    }));
    await assert.rejects(runSteps(steps, {}, {ui: silentUi(), signal: controller.signal}), (error: unknown) => error instanceof InterruptedError);
    assert.deepEqual(cleanups, [['last', 'cancelled'], ['create', 'cancelled']]);
  });
});
