import {isObject} from './locations.js';

/**
 * The layer merge: mappings merge key by key (deeply), lists replace the list below them,
 * except `provisioners` at the top of a settings layer and each event's list of `hooks`, which
 * append (outer layers first, the way Vagrant runs outer provisioners before a machine's own).
 * Inputs are never mutated.
 */
export function mergeSettings(base: Record<string, unknown>, overlay: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {...base};
  for (const [key, value] of Object.entries(overlay)) {
    if (value === undefined) continue;
    if (key === 'provisioners' && Array.isArray(value) && Array.isArray(out.provisioners)) {
      out.provisioners = [...out.provisioners, ...value];
    } else if (key === 'hooks' && isObject(value) && isObject(out.hooks)) {
      out.hooks = appendHooks(out.hooks, value);
    } else {
      out[key] = deepMerge(out[key], value);
    }
  }
  return out;
}

/** Hooks of each event append, as provisioners do: the project's run before a machine's own. */
function appendHooks(base: Record<string, unknown>, overlay: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {...base};
  for (const [event, hooks] of Object.entries(overlay)) {
    if (hooks === undefined) continue;
    out[event] = Array.isArray(hooks) && Array.isArray(out[event]) ? [...out[event] as unknown[], ...hooks] : structuredClone(hooks);
  }
  return out;
}

export function deepMerge(base: unknown, overlay: unknown): unknown {
  if (!isObject(base) || !isObject(overlay)) return structuredClone(overlay);
  const out: Record<string, unknown> = {...base};
  for (const [key, value] of Object.entries(overlay)) {
    if (value === undefined) continue;
    out[key] = deepMerge(out[key], value);
  }
  return out;
}

/** Settings keys of a layer without the project-only sections (name, machines, environments). */
export function settingsOnly(data: Record<string, unknown>): Record<string, unknown> {
  const {name: _name, version: _version, machines: _machines, environments: _environments, ...rest} = data;
  return rest;
}
