import type {ProvisionerCommon, ProvisionerConfig} from '../boxfile/schema.js';
import {throwIfAborted} from '../core/errors.js';
import type {ProjectProvisionContext, ProvisionContext, Provisioner} from './provisioner.js';
import {provisionerFor} from './registry.js';

export interface ProvisionerResult {
  type: string;
  name: string;
  seconds: number;
  /** The machines a project-wide run covered. */
  machines?: string[];
  /** What the provisioner reported (ansible: the PLAY RECAP per host). */
  details?: Record<string, unknown>;
}

/** What progress lines and results call a provisioner: "shell setup.sh", "ansible site (site.yml)". */
export function provisionerLabel(config: ProvisionerCommon): string {
  const described = provisionerFor<typeof config>(config.type).describe?.(config as never) ?? config.type;
  return config.name && !described.includes(config.name) ? `${config.type} ${config.name}` : described;
}

/** Whether the provisioner runs once for several machines (host-side ansible). */
export function isProjectWide(config: ProvisionerCommon): boolean {
  return provisionerFor(config.type).scope === 'project';
}

/**
 * Runs the Boxfile's provisioners in order, one stage line each, and stops at the first
 * failure (its error propagates) or when ctx.signal fires. Returns what ran, for --json.
 */
export async function runProvisioners(ctx: ProvisionContext, configs: readonly ProvisionerCommon[] | readonly ProvisionerConfig[]): Promise<ProvisionerResult[]> {
  const results: ProvisionerResult[] = [];
  for (const [index, config] of (configs as readonly ProvisionerCommon[]).entries()) {
    throwIfAborted(ctx.signal);
    const provisioner = provisionerFor<typeof config>(config.type);
    const name = provisionerLabel(config);
    ctx.ui.stage('provision', `[${index + 1}/${configs.length}] ${name}`);
    const started = performance.now();
    const outcome = await provisioner.provision(ctx, config as never);
    results.push({type: config.type, name, seconds: Math.round(performance.now() - started) / 1000, ...(outcome?.details ? {details: outcome.details} : {})});
  }

  return results;
}

/** Runs one project-wide provisioner once for the machines of `ctx.targets`. */
export async function runProjectProvisioner(ctx: ProjectProvisionContext, config: ProvisionerCommon): Promise<ProvisionerResult> {
  throwIfAborted(ctx.signal);
  const provisioner = provisionerFor<typeof config>(config.type) as Provisioner<typeof config>;
  const name = provisionerLabel(config);
  ctx.ui.stage('provision', `${name} (once for ${ctx.targets.join(', ')})`);
  const started = performance.now();
  if (!provisioner.provisionProject) throw new Error(`provisioner ${config.type} has scope 'project' but no provisionProject`);
  const outcome = await provisioner.provisionProject(ctx, config);
  return {type: config.type, name, seconds: Math.round(performance.now() - started) / 1000, machines: [...ctx.targets], ...(outcome?.details ? {details: outcome.details} : {})};
}
