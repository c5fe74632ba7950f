import path from 'node:path';
import type {Project} from '../../boxfile/project.js';
import type {ProvisionerCommon} from '../../boxfile/schema.js';
import {updateMachineState} from '../../core/state.js';
import type {Ui} from '../../core/ui.js';
import type {ProjectMachine} from '../../provisioners/provisioner.js';
import {runProjectProvisioner, type ProvisionerResult} from '../../provisioners/run-provisioners.js';
import {machineStatus, type MachineHandle} from './machines.js';
import {privateAddress} from './private-names.js';

/** What a machine's own provisioning left for the project-wide stage. */
export interface DeferredProvisioning {
  /** Its project-wide provisioners (host-side ansible), in its order. */
  configs: ProvisionerCommon[];
  /** This run counts as the machine's provisioning (`provisioned` is set once these succeed too). */
  marksProvisioned: boolean;
}

/**
 * The machines a project-wide provisioner entry is for. The same entry (same settings: a
 * top-level `provisioners:` entry every machine inherits, or one copied under several machines)
 * is ONE run for all of them, in the order entries first appear (machines in Boxfile order).
 */
export function groupDeferred(deferred: ReadonlyMap<string, DeferredProvisioning>, order: readonly string[]): Array<{config: ProvisionerCommon; targets: string[]}> {
  const groups = new Map<string, {config: ProvisionerCommon; targets: string[]}>();
  // Machines finish in any order: the Boxfile's order makes the runs and their targets stable.
  for (const machine of order) {
    const configs = deferred.get(machine)?.configs ?? [];
    for (const config of configs) {
      const key = JSON.stringify(config);
      const group = groups.get(key) ?? {config, targets: []};
      if (!group.targets.includes(machine)) group.targets.push(machine);
      groups.set(key, group);
    }
  }
  return [...groups.values()];
}

/**
 * The project-wide stage of `up` and `provision`: after every machine of the command is up and
 * ran its own provisioners, each project-wide provisioner runs once for the machines that list
 * it (Vagrant runs ansible once per machine; users work around it with `limit: all` on the last
 * one). Its inventory holds every running machine of the project. Machines whose provisioning
 * this was are recorded as provisioned only when the stage succeeded, so a failed playbook runs
 * again on the next `box up`.
 */
export async function runProjectProvisioners(
  project: Project, all: () => Promise<MachineHandle[]>, deferred: ReadonlyMap<string, DeferredProvisioning>,
  options: {ui: Ui; signal: AbortSignal},
): Promise<ProvisionerResult[]> {
  const groups = groupDeferred(deferred, project.machines.map((m) => m.name));
  if (groups.length === 0) return [];
  const machines = await runningMachines(await all());
  const results: ProvisionerResult[] = [];
  for (const {config, targets} of groups) {
    results.push(await runProjectProvisioner({
      project: {name: project.name, ...(project.environment ? {environment: project.environment} : {})},
      machines, targets, ui: options.ui, signal: options.signal, projectRoot: path.dirname(project.boxfilePath),
      outputPrefix: targets.join(','),
    }, config));
  }
  for (const [machine, {marksProvisioned}] of deferred) {
    if (marksProvisioned) await updateMachineState(project.root, machine, (s) => { s.provisioned = true; });
  }
  return results;
}

/** Every running machine of the project: how to reach it and its private address. */
async function runningMachines(handles: MachineHandle[]): Promise<ProjectMachine[]> {
  const found = await Promise.all(handles.map(async (handle): Promise<ProjectMachine | undefined> => {
    const {status} = await machineStatus(handle).catch(() => ({status: 'broken'}));
    if (status !== 'running') return undefined;
    const ssh = await handle.provider.sshInfo(handle.ctx);
    const privateIp = await privateAddress(handle);
    return {name: handle.machine.name, ssh, ...(privateIp ? {privateIp} : {})};
  }));
  return found.filter((m): m is ProjectMachine => m !== undefined);
}
