import path from 'node:path';
import type {MachineConfig, Project} from '../../../src/boxfile/project.js';
import type {AwsSettings} from '../../../src/providers/aws/settings.js';
import {machineDir} from '../../../src/core/paths.js';
import {silentUi} from '../../../src/core/ui.js';
import type {MachineContext} from '../../../src/providers/provider.js';

/** A resolved machine for the aws target, as loadProject would produce it, for provider tests. */
export function awsMachine(name: string, aws: AwsSettings): MachineConfig {
  return {
    name,
    basebox: {raw: 'none', kind: 'store', name: 'none'},
    target: 'aws',
    qemu: {cpus: 1, memoryMiB: 512, diskGiB: 10, accel: 'tcg', machineType: 'q35', extraArgs: [], binary: 'qemu-system-x86_64'},
    virtualbox: {cpus: 1, memoryMiB: 512, linkedClone: true, gui: false},
    aws,
    provisioners: [],
    forwardedPorts: [],
    syncedFolders: [],
    networks: [],
    ssh: {username: 'admin', port: 22, timeoutSeconds: 30, insertKey: false},
  };
}

export function awsContext(root: string, machine: MachineConfig, signal = new AbortController().signal): MachineContext {
  const project: Project = {root, boxfilePath: path.join(root, 'Boxfile'), name: 'proj', machines: [machine]};
  return {project, machine, dir: machineDir(root, machine.name), ui: silentUi(), signal};
}
