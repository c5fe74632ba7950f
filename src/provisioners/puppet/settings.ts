import {z} from 'zod';

const list = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);

/** Vagrant's puppet (apply) settings, by its names. */
export const puppetSettingsSchema = z.object({
  type: z.literal('puppet').describe('Runs `puppet apply` in the guest (the agent is installed from its packages when missing).'),
  manifests_path: z.string().min(1).optional().describe('Folder of manifests, relative to the Boxfile (default manifests).'),
  manifest_file: z.string().min(1).optional().describe('The manifest to apply, inside manifests_path (default default.pp).'),
  module_path: list.optional().describe('Module folder(s), relative to the Boxfile (--modulepath).'),
  hiera_config_path: z.string().min(1).optional().describe('A hiera.yaml, relative to the Boxfile (--hiera_config).'),
  facter: z.record(z.union([z.string(), z.number(), z.boolean()])).optional().describe('Custom facts (FACTER_<name> in puppet\'s environment).'),
  options: list.optional().describe('More arguments for puppet apply (a string is split on spaces).'),
  binary_path: z.string().min(1).optional().describe('Folder of the puppet binary in the guest (default: found on PATH).'),
  install: z.boolean().optional().describe('Install puppet with the guest\'s package manager when it is missing (default true).'),
}).strict();

export type PuppetSettings = z.output<typeof puppetSettingsSchema> & {name?: string; run?: string};

/** Host paths (checked to exist at validate, made absolute). */
export const puppetHostFiles = ['manifests_path', 'hiera_config_path'] as const;

/** module_path: one folder or a list of folders. */
export function puppetHostPaths(config: Record<string, unknown>, abs: (file: string) => string): Record<string, unknown> {
  const out = {...config};
  if (typeof out.module_path === 'string') out.module_path = abs(out.module_path);
  else if (Array.isArray(out.module_path)) out.module_path = out.module_path.map((p) => abs(String(p)));
  return out;
}

/** The manifests folder and file, with Vagrant's defaults (the Boxfile keeps only what was written). */
export function puppetManifest(config: {manifests_path?: string; manifest_file?: string}): {folder: string; file: string} {
  return {folder: config.manifests_path ?? 'manifests', file: config.manifest_file ?? 'default.pp'};
}
