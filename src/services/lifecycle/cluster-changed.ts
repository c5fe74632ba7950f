import type {Project} from '../../boxfile/project.js';
import type {Ui} from '../../core/ui.js';
import {clusterMap, configureCluster, hasConfigureHooks} from './hooks.js';
import type {MachineHandle} from './machines.js';
import {refreshPrivateNames} from './private-names.js';
import type {ConcurrencyOptions} from './run-machines.js';

/**
 * Once per command, when its machines are done and some came up or went away: the cluster map
 * is read once (each machine's status and address), then the private network's hosts blocks
 * name the running machines, then the configure event runs. Nothing is read when the project
 * has neither a private network nor configure hooks.
 */
export async function clusterChanged(
  project: Project, all: () => Promise<MachineHandle[]>, changed: {up: string[]; down: string[]},
  options: ConcurrencyOptions & {ui: Ui; signal: AbortSignal},
): Promise<void> {
  const networked = project.machines.some((m) => m.networks.length > 0);
  if (options.signal.aborted || (changed.up.length === 0 && changed.down.length === 0)) return;
  if (!networked && !hasConfigureHooks(project.machines)) return;
  const handles = await all();
  const cluster = await clusterMap(handles, 'configure', changed);
  if (networked) {
    const byName = new Map(handles.map((h) => [h.machine.name, h]));
    const running = cluster.machines.flatMap((m) => m.status === 'running' && m.address ? [{handle: byName.get(m.name)!, ip: m.address}] : []);
    await refreshPrivateNames(running, options.ui, options.signal);
  }
  await configureCluster(handles, cluster, options);
}
