import {existsSync} from 'node:fs';
import path from 'node:path';
import {errorMessage} from '../core/errors.js';
import {readMachineIndex, unindexMachine} from '../core/state.js';
import {silentUi} from '../core/ui.js';
import type {StatusReport} from '../providers/provider.js';
import {openMachines, type LifecycleOptions} from './lifecycle/machines.js';

export interface MachineStatusEntry extends StatusReport {
  name: string;
  target: string;
  project?: string;
  projectRoot?: string;
}

export interface StatusResult {
  machines: MachineStatusEntry[];
}

/** `box status`: recorded state reconciled with reality, per machine of the project. */
export async function status(options: LifecycleOptions): Promise<StatusResult> {
  const {project, handles} = await openMachines(options);
  const machines: MachineStatusEntry[] = [];
  for (const handle of handles) {
    machines.push({name: handle.machine.name, target: handle.machine.target, projectRoot: project.root, ...await handle.provider.status(handle.ctx)});
  }
  return {machines};
}

/**
 * `box status --all`: every machine in the user index, each reconciled by loading its project
 * (a project that moved or no longer loads is reported as broken, with the fix).
 */
export async function statusAll(options: {signal: AbortSignal; prune?: boolean}): Promise<StatusResult> {
  const entries = await readMachineIndex();
  const machines: MachineStatusEntry[] = [];
  for (const entry of entries) {
    const base = {name: entry.machine, target: entry.target, project: entry.project, projectRoot: entry.projectRoot};
    if (!existsSync(path.join(entry.projectRoot, '.box', 'machines', entry.machine))) {
      if (options.prune) {
        await unindexMachine(entry.projectRoot, entry.machine);
        continue;
      }
      machines.push({...base, status: 'broken', reason: `its folder ${entry.projectRoot}/.box/machines/${entry.machine} is gone`, repair: 'box status --all --prune'});
      continue;
    }
    try {
      const {handles} = await openMachines({cwd: entry.projectRoot, names: [entry.machine], ui: silentUi(), signal: options.signal});
      machines.push({...base, ...await handles[0].provider.status(handles[0].ctx)});
    } catch (error) {
      machines.push({...base, status: 'broken', reason: `its project does not load: ${errorMessage(error)}`, repair: `box validate --cwd ${entry.projectRoot}`});
    }
  }
  return {machines};
}
