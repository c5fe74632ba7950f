import type {IssuePath} from './issues.js';

export function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** A mapping of machine settings somewhere in a file: the top level, a machine, an environment. */
export interface SettingsLocation {
  segments: IssuePath;
  settings: Record<string, unknown>;
}

/**
 * Every place in a Boxfile that holds machine settings: the top level, `machines.<m>`,
 * `environments.<e>` and `environments.<e>.machines.<m>`. Used by the semantic checks, which
 * run on each place where a value is written so errors point at that spot.
 */
export function settingsLocations(data: unknown): SettingsLocation[] {
  if (!isObject(data)) return [];
  const out: SettingsLocation[] = [{segments: [], settings: data}];
  const machines = (base: IssuePath, value: unknown): void => {
    if (!isObject(value)) return;
    for (const [name, settings] of Object.entries(value)) {
      if (isObject(settings)) out.push({segments: [...base, 'machines', name], settings});
    }
  };
  machines([], data.machines);
  if (isObject(data.environments)) {
    for (const [env, settings] of Object.entries(data.environments)) {
      if (!isObject(settings)) continue;
      out.push({segments: ['environments', env], settings});
      machines(['environments', env], settings.machines);
    }
  }
  return out;
}
