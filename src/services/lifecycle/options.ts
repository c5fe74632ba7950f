import type {TargetInput} from '../../boxfile/schema.js';
import type {Ui} from '../../core/ui.js';
import type {LifecycleOptions} from './machines.js';

/** Turns a lifecycle command's parsed project flags and machine args into service options. */
export function lifecycleOptions(flags: {boxfile?: string; env?: string; target?: string}, names: unknown[], ui: Ui, signal: AbortSignal): LifecycleOptions {
  return {
    cwd: process.cwd(),
    boxfile: flags.boxfile,
    env: flags.env,
    target: flags.target as TargetInput | undefined,
    names: names.map(String),
    ui,
    signal,
  };
}
