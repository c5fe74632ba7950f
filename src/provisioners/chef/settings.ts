import {z} from 'zod';

const list = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);

/** Settings chef_solo and chef_zero share (Vagrant's names). */
const chefShape = {
  cookbooks_path: list.optional().describe('Cookbook folder(s), relative to the Boxfile (default cookbooks).'),
  roles_path: list.optional().describe('Role folder(s), relative to the Boxfile.'),
  data_bags_path: list.optional().describe('Data bag folder(s), relative to the Boxfile.'),
  environments_path: list.optional().describe('Environment folder(s), relative to the Boxfile.'),
  environment: z.string().min(1).optional().describe('The Chef environment of the node.'),
  run_list: z.array(z.string().min(1)).min(1).describe('The node\'s run list: recipe[cookbook::recipe], role[name], or a cookbook name.'),
  json: z.record(z.unknown()).optional().describe('Node attributes (merged into the node JSON next to run_list).'),
  node_name: z.string().min(1).optional().describe('The node\'s name (default: the machine\'s name).'),
  log_level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal']).optional().describe('Chef\'s log level.'),
  binary_path: z.string().min(1).optional().describe('Folder of chef-solo / chef-client in the guest (default: found on PATH).'),
};

export const chefSoloSettingsSchema = z.object({
  type: z.literal('chef_solo').describe('Runs chef-solo in the guest with the uploaded cookbooks (Chef must be in the box).'),
  ...chefShape,
}).strict();

export const chefZeroSettingsSchema = z.object({
  type: z.literal('chef_zero').describe('Runs chef-client --local-mode (chef-zero) in the guest with the uploaded cookbooks (Chef must be in the box).'),
  ...chefShape,
}).strict();

export type ChefSettings = (z.output<typeof chefSoloSettingsSchema> | z.output<typeof chefZeroSettingsSchema>) & {name?: string; run?: string};

const FOLDERS = ['cookbooks_path', 'roles_path', 'data_bags_path', 'environments_path'] as const;

/** The folder settings (one or a list, checked to exist when the run starts, made absolute). */
export function chefHostPaths(config: Record<string, unknown>, abs: (file: string) => string): Record<string, unknown> {
  const out = {...config};
  for (const key of FOLDERS) {
    if (typeof out[key] === 'string') out[key] = abs(out[key] as string);
    else if (Array.isArray(out[key])) out[key] = (out[key] as unknown[]).map((p) => abs(String(p)));
  }
  return out;
}

export const chefFolderSettings = FOLDERS;
