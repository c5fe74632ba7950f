import type {ProvisionerConfig} from '../boxfile/schema.js';
import {throwIfAborted} from '../core/errors.js';
import type {ProvisionContext} from './provisioner.js';
import {provisionerFor} from './registry.js';

export interface ProvisionerResult {
  type: string;
  name: string;
  seconds: number;
}

/**
 * Runs the Boxfile's provisioners in order, one stage line each, and stops at the first
 * failure (its error propagates) or when ctx.signal fires. Returns what ran, for --json.
 */
export async function runProvisioners(ctx: ProvisionContext, configs: readonly ProvisionerConfig[]): Promise<ProvisionerResult[]> {
  const results: ProvisionerResult[] = [];
  for (const [index, config] of configs.entries()) {
    throwIfAborted(ctx.signal);
    const provisioner = provisionerFor<typeof config>(config.type);
    const name = provisioner.describe?.(config as never) ?? config.type;
    ctx.ui.stage('provision', `[${index + 1}/${configs.length}] ${name}`);
    const started = performance.now();
    await provisioner.provision(ctx, config as never);
    results.push({type: config.type, name, seconds: Math.round(performance.now() - started) / 1000});
  }

  return results;
}
