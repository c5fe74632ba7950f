import path from 'node:path';
import type {MachineConfig, Project} from '../../src/boxfile/project.js';
import {silentUi} from '../../src/core/ui.js';
import type {MachineContext, Provider, StatusReport} from '../../src/providers/provider.js';

/**
 * For `box package` tests without a guest: a provider that records the up/halt calls it is
 * asked (a running machine, stopped by halt, started by up; SSH on 127.0.0.1:2222 with the
 * machine key) and a context of machine `name` (folder `dir`) in a project at `root`.
 */
export function recordingPackageContext(target: 'qemu' | 'virtualbox', root: string, name: string, dir: string) {
  const calls: string[] = [];
  let status: StatusReport['status'] = 'running';
  const provider: Provider = {
    name: target,
    verify: async () => undefined,
    up: async () => { calls.push('up'); status = 'running'; return {created: false}; },
    halt: async () => { calls.push('halt'); status = 'stopped'; return 'acpi'; },
    destroy: async () => undefined,
    status: async () => ({status}),
    sshInfo: async () => ({host: '127.0.0.1', port: 2222, username: 'vagrant', privateKeyPath: path.join(dir, 'id_ed25519')}),
  };
  const machine = {name, target, ssh: {username: 'vagrant', port: 22, timeoutSeconds: 30, insertKey: true}, forwardedPorts: [], networks: [], syncedFolders: [], provisioners: []} as unknown as MachineConfig;
  const project: Project = {root, boxfilePath: path.join(root, 'Boxfile'), name: 'proj', machines: [machine]};
  const controller = new AbortController();
  const ui = silentUi();
  const ctx: MachineContext = {project, machine, dir, ui, signal: controller.signal};
  return {ctx, provider, calls, controller, ui};
}
