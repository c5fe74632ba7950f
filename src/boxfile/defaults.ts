import {defaultTargetName, registeredBoxfileTargets, type MachineSettings} from './schema.js';

/**
 * Built-in defaults: the lowest layer, below ~/.box/config.yaml. Kept as Boxfile-shaped data
 * so `docs/boxfile.md` and the merge rules describe them the same way as any other layer.
 */
export function builtInDefaults(): MachineSettings {
  return {
    target: defaultTargetName(),
    // Each target's own defaults (qemu: 2 CPUs, 1 GiB...), from its folder.
    targets: Object.fromEntries(registeredBoxfileTargets().flatMap((t) => (t.defaults ? [[t.name, structuredClone(t.defaults)]] : []))),
    provisioners: [],
    forwarded_ports: [],
    synced_folders: [],
    ssh: {username: 'vagrant', port: 22, timeout: 300, insert_key: true},
  };
}

export const forwardedPortDefaults = {protocol: 'tcp', host_ip: '127.0.0.1'} as const;
