import os from 'node:os';
import path from 'node:path';
import {parseBasebox, parseBaseboxUrl} from './basebox.js';
import {forwardedPortDefaults} from './defaults.js';
import type {CloudInitConfig, MachineConfig, TargetConfigs, TextSource} from './project.js';
import {boxfileProvisionerPlugin, boxfileTarget, canonicalTarget, defaultTargetName, registeredBoxfileTargets, targetAlias, type MachineSettings} from './schema.js';

/** The `targets.<name>` settings of merged settings (empty when none are written). */
function settingsOf(s: MachineSettings, target: string): Record<string, unknown> {
  return (s.targets as Record<string, Record<string, unknown> | undefined> | undefined)?.[target] ?? {};
}

/**
 * A machine may do without a basebox when its target says its settings name the image (an aws
 * machine with targets.aws.ami or ami_filter). qemu and virtualbox machines boot a box's disk,
 * so they always need one.
 */
export function baseboxOptional(s: MachineSettings): boolean {
  const target = s.target === undefined ? undefined : boxfileTarget(s.target);
  return Boolean(target?.baseboxOptional?.test(settingsOf(s, target.name)));
}

/** Side key carried through the merge with `basebox`: the text as written. */
const RAW_BASEBOX = '__basebox_raw';

/** `~` and `~/x` are the user's home, as in a shell. */
export function expandHome(file: string): string {
  return file === '~' || file.startsWith('~/') ? path.join(os.homedir(), file.slice(1)) : file;
}

/** A provisioner's keys that name a host file or folder that must exist (shell path, file source, a plug-in's hostFiles). */
export function provisionerHostFileFields(type: string): readonly string[] {
  return type === 'shell' ? ['path'] : type === 'file' ? ['source'] : boxfileProvisionerPlugin(type)?.hostFiles ?? [];
}

/** One provisioner entry with every host path made absolute (`abs` resolves against the file that wrote it). */
export function absolutizeProvisioner<P extends {type: string}>(p: P, abs: (file: string) => string): P {
  const plugin = boxfileProvisionerPlugin(p.type);
  const files = Object.fromEntries(provisionerHostFileFields(p.type).flatMap((field) => {
    const value = (p as Record<string, unknown>)[field];
    return typeof value === 'string' && value !== '' ? [[field, abs(value)]] : [];
  }));
  const withFiles = {...p, ...files};
  return plugin?.hostPaths ? plugin.hostPaths(withFiles, abs) as P : withFiles;
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
  out.provisioners = out.provisioners?.map((p) => absolutizeProvisioner(p, abs));
  if (out.provisioners === undefined) delete out.provisioners;
  if (out.synced_folders) out.synced_folders = out.synced_folders.map((f) => ({...f, source: abs(f.source)}));
  if (out.ssh?.private_key_path) out.ssh.private_key_path = abs(out.ssh.private_key_path);
  const textAbs = (text: string): string => (isInlineText(text) ? text : abs(text));
  if (out.user_data !== undefined) out.user_data = textAbs(out.user_data);
  if (out.cloud_init?.user_data !== undefined) out.cloud_init.user_data = textAbs(out.cloud_init.user_data);
  if (out.cloud_init?.network_config !== undefined) out.cloud_init.network_config = textAbs(out.cloud_init.network_config);
  for (const target of registeredBoxfileTargets()) {
    const settings = (out.targets as Record<string, Record<string, unknown> | undefined> | undefined)?.[target.name];
    for (const field of target.hostFiles ?? []) {
      if (settings && typeof settings[field] === 'string' && settings[field] !== '') settings[field] = abs(settings[field]);
    }
  }
  return out;
}

/**
 * A cloud-init text written in the Boxfile is inline when it has a line break or starts with
 * `#` (#cloud-config, #!/bin/sh, #include: every user-data format but gzip starts so); any
 * other one-line text names a host file, relative to the Boxfile.
 */
export function isInlineText(text: string): boolean {
  return text.includes('\n') || text.startsWith('#');
}

const textSource = (text: string): TextSource => (isInlineText(text) ? {inline: text} : {path: text});

/** The machine's cloud-init data, and every Boxfile key that sets its user-data (one is fine, more contradict). */
function cloudInitOf(s: MachineSettings): CloudInitConfig | undefined {
  const aws = settingsOf(s, 'aws').user_data;
  const setAt = [
    ...(s.user_data === undefined ? [] : [['user_data']]),
    ...(s.cloud_init?.user_data === undefined ? [] : [['cloud_init', 'user_data']]),
    ...(typeof aws === 'string' && (s.user_data !== undefined || s.cloud_init?.user_data !== undefined) ? [['targets', 'aws', 'user_data']] : []),
  ];
  const userData = s.cloud_init?.user_data ?? s.user_data;
  if (userData === undefined && s.cloud_init?.meta_data === undefined && s.cloud_init?.network_config === undefined) return undefined;
  return {
    ...(userData === undefined ? {} : {userData: textSource(userData)}),
    ...(s.cloud_init?.meta_data ? {metaData: s.cloud_init.meta_data} : {}),
    ...(s.cloud_init?.network_config === undefined ? {} : {networkConfig: textSource(s.cloud_init.network_config)}),
    userDataSetAt: setAt,
  };
}

/**
 * Turns fully merged settings (defaults included, so every defaulted field is set) into the
 * typed MachineConfig that services and providers use. `basebox` must have been checked (and
 * may be absent only where baseboxOptional says so).
 */
export function toMachineConfig(name: string, s: MachineSettings, baseDir: string, targetFrom = 'target'): MachineConfig {
  const parsed = s.basebox ? parseBasebox(s.basebox, baseDir, s.basebox_url) : undefined;
  if (parsed && !parsed.ok) throw new Error(`basebox was not validated: ${parsed.message}`);
  const raw = (s as Record<string, unknown>)[RAW_BASEBOX];
  if (parsed?.ok && typeof raw === 'string') parsed.ref.raw = raw;
  const written = s.target ?? defaultTargetName();
  const target = canonicalTarget(written);
  const alias = targetAlias(written);
  // Every target that resolves its settings does so for every machine (project-wide commands
  // read the aws settings of a qemu machine); an alias's forced settings apply to its target.
  const resolved = Object.fromEntries(registeredBoxfileTargets().flatMap((t) => {
    if (!t.resolve) return [];
    const forced = alias?.target === t.name && alias.settings ? alias.settings : undefined;
    const forcedBy = forced ? `${targetFrom === '--target' ? '--target ' : 'target: '}${written}` : undefined;
    return [[t.name, t.resolve({...settingsOf(s, t.name), ...forced}, {forcedBy})]];
  }));
  return {
    name,
    ...(parsed?.ok ? {basebox: parsed.ref} : {}),
    target,
    ...(alias ? {targetAlias: written} : {}),
    ...(s.hostname ? {hostname: s.hostname} : {}),
    ...(cloudInitOf(s) ? {cloudInit: cloudInitOf(s)} : {}),
    ...(s.hooks && Object.values(s.hooks).some((list) => list && list.length > 0) ? {hooks: s.hooks} : {}),
    ...resolved as unknown as TargetConfigs,
    ...(boxfileTarget(target)?.resolve ? {} : {targetSettings: settingsOf(s, target)}),
    provisioners: s.provisioners ?? [],
    forwardedPorts: (s.forwarded_ports ?? []).map((p) => ({
      guest: p.guest,
      host: p.host,
      protocol: p.protocol ?? forwardedPortDefaults.protocol,
      hostIp: p.host_ip ?? forwardedPortDefaults.host_ip,
    })),
    syncedFolders: (s.synced_folders ?? []).map((f) => ({
      source: f.source, destination: f.destination, type: f.type ?? 'rsync', exclude: f.exclude ?? [], gitignore: f.gitignore ?? false,
      ...(f.owner === undefined ? {} : {owner: f.owner}),
      ...(f.group === undefined ? {} : {group: f.group}),
    })),
    networks: s.networks ?? [],
    tests: (s.tests ?? []).map((t) => (typeof t === 'string' ? {name: t, run: t, privileged: false} : {name: t.name ?? t.run, run: t.run, privileged: t.privileged ?? false})),
    artifacts: s.artifacts ?? [],
    ssh: {
      username: s.ssh?.username ?? 'vagrant',
      ...(s.ssh?.private_key_path ? {privateKeyPath: s.ssh.private_key_path} : {}),
      port: s.ssh?.port ?? 22,
      timeoutSeconds: s.ssh?.timeout ?? 300,
      insertKey: s.ssh?.insert_key ?? true,
    },
  };
}
