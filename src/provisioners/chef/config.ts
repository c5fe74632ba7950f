import {asList} from '../settings-list.js';
import {chefFolderSettings, type ChefSettings} from './settings.js';

/** Where each folder setting goes in the guest folder `remote`: cookbooks-0, cookbooks-1, roles-0... */
export function chefLayout(config: ChefSettings, remote: string): Record<(typeof chefFolderSettings)[number], string[]> {
  const at = (key: (typeof chefFolderSettings)[number]) => chefFolders(config, key).map((_, i) => `${remote}/${key.replace(/_path$/, '')}-${i}`);
  return {cookbooks_path: at('cookbooks_path'), roles_path: at('roles_path'), data_bags_path: at('data_bags_path'), environments_path: at('environments_path')};
}

/** The folders of one setting; cookbooks_path defaults to cookbooks (the Boxfile keeps only what was written). */
export function chefFolders(config: ChefSettings, key: (typeof chefFolderSettings)[number]): string[] {
  return key === 'cookbooks_path' && config.cookbooks_path === undefined ? ['cookbooks'] : asList(config[key]);
}

/** A Ruby single-quoted string (no interpolation; only \\ and ' are escaped). */
function ruby(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, '\\\'')}'`;
}

function rubyPaths(paths: string[]): string {
  return paths.length === 1 ? ruby(paths[0]!) : `[${paths.map((p) => ruby(p)).join(', ')}]`;
}

/**
 * solo.rb (chef_solo) or client.rb (chef_zero, with local_mode): the uploaded folders, the
 * node's name and environment, and a cache inside the run's folder (removed with it).
 */
export function chefConfigFile(config: ChefSettings, remote: string, machine: string): string {
  const layout = chefLayout(config, remote);
  const lines = [
    ...(config.type === 'chef_zero' ? ['local_mode true', `chef_repo_path ${ruby(remote)}`] : []),
    `node_name ${ruby(config.node_name ?? machine)}`,
    `file_cache_path ${ruby(`${remote}/cache`)}`,
    `cookbook_path ${rubyPaths(layout.cookbooks_path)}`,
    ...(layout.roles_path.length > 0 ? [`role_path ${rubyPaths(layout.roles_path)}`] : []),
    ...(layout.data_bags_path.length > 0 ? [`data_bag_path ${rubyPaths(layout.data_bags_path)}`] : []),
    ...(layout.environments_path.length > 0 ? [`environment_path ${rubyPaths(layout.environments_path)}`] : []),
    ...(config.environment ? [`environment ${ruby(config.environment)}`] : []),
    ...(config.log_level ? [`log_level :${config.log_level}`] : []),
  ];
  return `# Written by box for this run.\n${lines.join('\n')}\n`;
}

/** The node JSON (-j): the `json` attributes with the run list. */
export function chefNodeJson(config: ChefSettings): string {
  return `${JSON.stringify({...config.json, run_list: config.run_list}, null, 2)}\n`;
}

/** `chef-solo -c solo.rb -j node.json` or `chef-client --local-mode -c client.rb -j node.json`. */
export function chefCommand(config: ChefSettings, remote: string): {program: string; args: string[]; configFile: string} {
  const bin = config.binary_path ? `${config.binary_path.replace(/\/$/, '')}/` : '';
  const configFile = `${remote}/${config.type === 'chef_zero' ? 'client.rb' : 'solo.rb'}`;
  const args = ['-c', configFile, '-j', `${remote}/node.json`];
  return config.type === 'chef_zero'
    ? {program: `${bin}chef-client`, args: ['--local-mode', ...args], configFile}
    : {program: `${bin}chef-solo`, args, configFile};
}

/** `Error executing action `create` on resource 'file[/x]'` → `file[/x]`: the resource chef failed on. */
export function failedChefResource(line: string): string | undefined {
  return /Error executing action `[^`]+` on resource '([^']+)'/.exec(line)?.[1];
}
