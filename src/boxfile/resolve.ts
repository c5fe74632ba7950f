import os from 'node:os';
import path from 'node:path';
import {parseBasebox, parseBaseboxUrl} from './basebox.js';
import {forwardedPortDefaults} from './defaults.js';
import type {MachineConfig} from './project.js';
import {boxfileProvisionerPlugin, canonicalTarget, isPluginTarget, isTargetAlias, targetAliases, type MachineSettings, type ProvisionerConfig} from './schema.js';
import {diskGiB, memoryMiB} from './sizes.js';

/**
 * A machine may do without a basebox when every target it uses names its image: an aws machine
 * with targets.aws.ami or ami_filter (vagrant-aws needed a "dummy box" for this). qemu and
 * virtualbox machines boot a box's disk, so they always need one.
 */
export function baseboxOptional(s: MachineSettings): boolean {
  return s.target === 'aws' && Boolean(s.targets?.aws?.ami || s.targets?.aws?.ami_filter);
}

/** Side key carried through the merge with `basebox`: the text as written. */
const RAW_BASEBOX = '__basebox_raw';

/** `~` and `~/x` are the user's home, as in a shell. */
export function expandHome(file: string): string {
  return file === '~' || file.startsWith('~/') ? path.join(os.homedir(), file.slice(1)) : file;
}

/**
 * Makes every host path of one layer absolute against the folder of the file that wrote it
 * (the Boxfile, or ~/.box for config.yaml), before layers are merged and lose their origin.
 */
export function absolutizeLayer(settings: MachineSettings, baseDir: string): MachineSettings {
  const abs = (file: string): string => path.resolve(baseDir, expandHome(file));
  const out: MachineSettings = structuredClone(settings);
  if (out.basebox !== undefined) {
    // Keep what the user wrote for messages; the layer's folder is lost once layers merge.
    (out as Record<string, unknown>)[RAW_BASEBOX] = out.basebox;
    const parsed = parseBasebox(out.basebox, baseDir);
    if (parsed.ok && parsed.ref.kind === 'file') out.basebox = parsed.ref.name;
  }
  if (out.basebox_url !== undefined) {
    const parsed = parseBaseboxUrl(out.basebox_url, baseDir);
    if (parsed.ok) out.basebox_url = parsed.url;
  }
  out.provisioners = out.provisioners?.map((p) => {
    if (p.type === 'shell' && p.path !== undefined) return {...p, path: abs(p.path)};
    if (p.type === 'file') return {...p, source: abs(p.source)};
    const plugin = boxfileProvisionerPlugin(p.type);
    return plugin?.hostPaths ? plugin.hostPaths(p, abs) as ProvisionerConfig : p;
  });
  if (out.provisioners === undefined) delete out.provisioners;
  if (out.synced_folders) out.synced_folders = out.synced_folders.map((f) => ({...f, source: abs(f.source)}));
  if (out.ssh?.private_key_path) out.ssh.private_key_path = abs(out.ssh.private_key_path);
  if (out.targets?.aws?.private_key_path) out.targets.aws.private_key_path = abs(out.targets.aws.private_key_path);
  return out;
}

/**
 * Turns fully merged settings (defaults included, so every defaulted field is set) into the
 * typed MachineConfig that services and providers use. `basebox` must have been checked (and
 * may be absent only where baseboxOptional says so).
 */
export function toMachineConfig(name: string, s: MachineSettings, baseDir: string, targetFrom = 'target'): MachineConfig {
  const q = s.targets?.qemu ?? {};
  const v = s.targets?.virtualbox ?? {};
  const parsed = s.basebox ? parseBasebox(s.basebox, baseDir, s.basebox_url) : undefined;
  if (parsed && !parsed.ok) throw new Error(`basebox was not validated: ${parsed.message}`);
  const raw = (s as Record<string, unknown>)[RAW_BASEBOX];
  if (parsed?.ok && typeof raw === 'string') parsed.ref.raw = raw;
  const written = s.target ?? 'qemu';
  const target = canonicalTarget(written);
  const alias = isTargetAlias(written) ? targetAliases[written] : undefined;
  const accel = alias && 'accel' in alias ? alias.accel : q.accel ?? 'auto';
  return {
    name,
    ...(parsed?.ok ? {basebox: parsed.ref} : {}),
    target,
    ...(isTargetAlias(written) ? {targetAlias: written} : {}),
    ...(s.hostname ? {hostname: s.hostname} : {}),
    qemu: {
      cpus: q.cpus ?? 2,
      memoryMiB: memoryMiB(q.memory ?? 1024),
      diskGiB: diskGiB(q.disk ?? 10),
      accel,
      ...(accel === 'kvm' ? {kvmRequiredBy: alias ? `${targetFrom === '--target' ? '--target ' : 'target: '}${written}` : 'targets.qemu.accel: kvm'} : {}),
      machineType: q.machine_type ?? 'q35',
      extraArgs: q.extra_args ?? [],
      binary: q.binary ?? 'qemu-system-x86_64',
    },
    virtualbox: {
      cpus: v.cpus ?? 2,
      memoryMiB: memoryMiB(v.memory ?? 1024),
      linkedClone: v.linked_clone ?? true,
      gui: v.gui ?? false,
    },
    aws: s.targets?.aws ?? {},
    ...(isPluginTarget(target) ? {targetSettings: (s.targets as Record<string, Record<string, unknown>> | undefined)?.[target] ?? {}} : {}),
    provisioners: s.provisioners ?? [],
    forwardedPorts: (s.forwarded_ports ?? []).map((p) => ({
      guest: p.guest,
      host: p.host,
      protocol: p.protocol ?? forwardedPortDefaults.protocol,
      hostIp: p.host_ip ?? forwardedPortDefaults.host_ip,
    })),
    syncedFolders: (s.synced_folders ?? []).map((f) => ({source: f.source, destination: f.destination, type: f.type ?? 'rsync', exclude: f.exclude ?? []})),
    networks: s.networks ?? [],
    ssh: {
      username: s.ssh?.username ?? 'vagrant',
      ...(s.ssh?.private_key_path ? {privateKeyPath: s.ssh.private_key_path} : {}),
      port: s.ssh?.port ?? 22,
      timeoutSeconds: s.ssh?.timeout ?? 300,
      insertKey: s.ssh?.insert_key ?? true,
    },
  };
}
