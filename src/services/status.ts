import {instanceOfRoot} from '../boxfile/instance.js';
import {existsSync} from 'node:fs';
import path from 'node:path';
import {errorMessage} from '../core/errors.js';
import {readMachineIndexReport, repairMachineIndex, unindexMachine} from '../core/state.js';
import {silentUi} from '../core/ui.js';
import type {StatusReport} from '../providers/provider.js';
import {privateAddress} from './lifecycle/private-names.js';
import {machineStatus, openMachines, type LifecycleOptions} from './lifecycle/machines.js';

export interface MachineStatusEntry extends StatusReport {
  name: string;
  target: string;
  /** Its address on the project's private network (`networks`), once an up assigned it. */
  privateAddress?: string;
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
    const address = handle.machine.networks.length > 0 ? await privateAddress(handle) : undefined;
    machines.push({name: handle.machine.name, target: handle.machine.target, ...(address ? {privateAddress: address} : {}), projectRoot: project.root, ...await machineStatus(handle)});
  }
  return {machines};
}

/**
 * `box status --all`: every machine in the user index, each reconciled by loading its project
 * (a project that moved or no longer loads is reported as broken, with the fix).
 */
export async function statusAll(options: {signal: AbortSignal; prune?: boolean}): Promise<StatusResult> {
  const {entries, damage} = await readMachineIndexReport();
  const machines: MachineStatusEntry[] = [];
  if (damage && options.prune) {
    await repairMachineIndex();
  } else if (damage) {
    // The index itself is a row: what is wrong, what was still read, and the repair.
    machines.push({
      name: '(index)', target: '-', projectRoot: damage.file, status: 'broken',
      reason: `the machine index ${damage.file} is damaged (${damage.problem}); ${damage.recovered} entr${damage.recovered === 1 ? 'y' : 'ies'} could still be read and are listed`,
      repair: 'box status --all --prune',
      details: {file: damage.file, recovered: damage.recovered},
    });
  }
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
      // An instance's root is inside its project's folder (box ci): load that project as it.
      const instance = instanceOfRoot(entry.projectRoot);
      const {handles} = await openMachines({cwd: instance?.folder ?? entry.projectRoot, ...(instance ? {instance: instance.id} : {}), names: [entry.machine], ui: silentUi(), signal: options.signal});
      machines.push({...base, ...await machineStatus(handles[0])});
    } catch (error) {
      const instance = instanceOfRoot(entry.projectRoot);
      const repair = instance ? `box validate --cwd ${instance.folder} --instance ${instance.id}` : `box validate --cwd ${entry.projectRoot}`;
      machines.push({...base, status: 'broken', reason: `its project does not load: ${errorMessage(error)}`, repair});
    }
  }
  return {machines};
}
