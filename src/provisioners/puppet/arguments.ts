import path from 'node:path';
import {asList} from '../settings-list.js';
import {puppetManifest, type PuppetSettings} from './settings.js';

/** Where the run's files go in the guest folder `remote`. */
export function puppetLayout(config: PuppetSettings, remote: string): {manifests: string; modules: string[]; hiera?: string} {
  return {
    manifests: `${remote}/manifests`,
    modules: asList(config.module_path).map((_, i) => `${remote}/modules-${i}`),
    ...(config.hiera_config_path ? {hiera: `${remote}/hiera${path.extname(config.hiera_config_path) || '.yaml'}`} : {}),
  };
}

/**
 * `puppet apply` arguments: --detailed-exitcodes (2 = changes, 4/6 = failures), no colour (its
 * output is parsed for the failed resource), the module path, hiera config, the user's options,
 * then the manifest.
 */
export function puppetApplyArgs(config: PuppetSettings, remote: string): string[] {
  const layout = puppetLayout(config, remote);
  const options = asList(config.options).flatMap((o) => (Array.isArray(config.options) ? [o] : o.split(/\s+/).filter(Boolean)));
  return [
    'apply', '--detailed-exitcodes', '--color=false',
    ...(layout.modules.length > 0 ? ['--modulepath', layout.modules.join(':')] : []),
    ...(layout.hiera ? ['--hiera_config', layout.hiera] : []),
    ...options,
    `${layout.manifests}/${puppetManifest(config).file}`,
  ];
}

/** facter facts as FACTER_<name> variables (how facter picks up external facts from the environment). */
export function facterEnv(facter: PuppetSettings['facter']): Record<string, string> {
  return Object.fromEntries(Object.entries(facter ?? {}).map(([k, v]) => [`FACTER_${k}`, String(v)]));
}

/** With --detailed-exitcodes: 0 nothing to do, 2 changes applied; 1, 4 and 6 are failures. */
export function puppetSucceeded(code: number): {ok: boolean; changed: boolean} {
  return {ok: code === 0 || code === 2, changed: code === 2};
}

/**
 * The first failed resource puppet names: `Error: /Stage[main]/Main/File[/x]/ensure: change ...
 * failed` → `File[/x]` (the last Type[title] of the path; titles may hold slashes).
 */
export function failedPuppetResource(line: string): string | undefined {
  const m = /^(?:Error|Err): (\/Stage\[.*?):\s/.exec(line.replace(/\x1B\[[0-9;]*m/g, ''));
  if (!m) return undefined;
  const resources = [...m[1]!.matchAll(/[A-Z][\w:]*\[[^\]]*\]/g)].map((r) => r[0]).filter((r) => !r.startsWith('Stage['));
  return resources.at(-1);
}
