import {readdir} from 'node:fs/promises';
import path from 'node:path';
import {UsageError} from '../core/errors.js';
import {projectStateDir} from '../core/paths.js';
import {readMachineState} from '../core/state.js';
import type {MachineConfig, Project} from './project.js';

/**
 * The project with its undeclared clones: a machine made by `box up NAME --from SOURCE` that the
 * Boxfile does not declare takes SOURCE's settings under its own name, so `status`, `ssh`,
 * `halt` and `destroy` find it like any machine. What must be the clone's own is not inherited:
 * forwarded ports (they would clash with the source's; SSH gets its own free port anyway), the
 * private address (a new one is assigned), the host name and depends_on. `pending` names a
 * clone being made now (NAME → SOURCE), before it has a record. A declared NAME keeps its own
 * settings; a clone whose source left the Boxfile is left out (destroy it by declaring it again).
 */
export async function withClones(project: Project, pending: Record<string, string> = {}): Promise<Project> {
  const declared = new Set(project.machines.map((m) => m.name));
  const sources = new Map<string, string>(Object.entries(pending).filter(([name]) => !declared.has(name)));
  const dir = path.join(projectStateDir(project.root), 'machines');
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (declared.has(name) || sources.has(name)) continue;
    const source = (await readMachineState(project.root, name).catch(() => undefined))?.cloneOf?.machine;
    if (source !== undefined) sources.set(name, source);
  }
  if (sources.size === 0) return project;
  const clones: MachineConfig[] = [];
  for (const [name, sourceName] of [...sources].sort(([a], [b]) => a.localeCompare(b))) {
    const source = project.machines.find((m) => m.name === sourceName);
    if (!source && Object.hasOwn(pending, name)) {
      throw new UsageError('ERR_UNKNOWN_MACHINE', `No machine named ${JSON.stringify(sourceName)} to clone in ${path.basename(project.boxfilePath)}.`, {hint: `Machines: ${project.machines.map((m) => m.name).join(', ')}.`});
    }
    if (!source) continue;
    const {hostname: _hostname, dependsOn: _dependsOn, ...settings} = structuredClone(source);
    clones.push({...settings, name, forwardedPorts: [], networks: settings.networks.map(({ip: _ip, ...network}) => network)});
  }
  return {...project, machines: [...project.machines, ...clones]};
}
