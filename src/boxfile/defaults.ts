import type {MachineSettings} from './schema.js';

/**
 * Built-in defaults: the lowest layer, below ~/.box/config.yaml. Kept as Boxfile-shaped data
 * so `docs/boxfile.md` and the merge rules describe them the same way as any other layer.
 */
export function builtInDefaults(): MachineSettings {
  return {
    target: 'qemu',
    targets: {
      qemu: {cpus: 2, memory: 1024, disk: 10, accel: 'auto', machine_type: 'q35', binary: 'qemu-system-x86_64', extra_args: []},
      virtualbox: {cpus: 2, memory: 1024, linked_clone: true, gui: false},
      aws: {},
    },
    provisioners: [],
    forwarded_ports: [],
    synced_folders: [],
    ssh: {username: 'vagrant', port: 22, timeout: 300, insert_key: true},
  };
}

export const forwardedPortDefaults = {protocol: 'tcp', host_ip: '127.0.0.1'} as const;
