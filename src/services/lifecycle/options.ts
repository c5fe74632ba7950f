import {Flags} from '@oclif/core';
import type {TargetInput} from '../../boxfile/schema.js';
import type {Ui} from '../../core/ui.js';
import type {LifecycleOptions} from './machines.js';
import type {ConcurrencyOptions} from './run-machines.js';

/** `--parallel N` / `--no-parallel`, for the commands that run machines at once. */
export const concurrencyFlags = {
  parallel: Flags.integer({min: 1, description: 'Work on at most this many machines at once (default: all that depends_on allows).', exclusive: ['no-parallel']}),
  'no-parallel': Flags.boolean({description: 'Work on one machine after another (as --parallel 1).', exclusive: ['parallel']}),
};

/** Turns a lifecycle command's parsed project flags and machine args into service options. */
export function lifecycleOptions(
  flags: {boxfile?: string; env?: string; instance?: string; target?: string; parallel?: number; 'no-parallel'?: boolean},
  names: unknown[], ui: Ui, signal: AbortSignal,
): LifecycleOptions & ConcurrencyOptions {
  return {
    cwd: process.cwd(),
    boxfile: flags.boxfile,
    env: flags.env,
    ...(flags.instance === undefined ? {} : {instance: flags.instance}),
    target: flags.target as TargetInput | undefined,
    names: names.map(String),
    ui,
    signal,
    ...(flags['no-parallel'] ? {parallel: 1} : flags.parallel === undefined ? {} : {parallel: flags.parallel}),
  };
}
