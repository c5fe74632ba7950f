import type {AnsibleCommonSettings} from './settings.js';

/** Where a run's files are (host paths for `ansible`, guest paths for `ansible_local`). */
export interface PlaybookFiles {
  playbook: string;
  inventory: string;
  /** `--extra-vars @FILE`: box's JSON of an extra_vars map, or the user's vars file. */
  extraVarsFile?: string;
  limit: string;
  /** `-c local` (ansible_local). */
  local?: boolean;
}

const joined = (value: string | string[]): string => (Array.isArray(value) ? value.join(',') : value);

/** ansible-playbook's argv for these settings (the program name not included). */
export function playbookArgs(settings: AnsibleCommonSettings, files: PlaybookFiles): string[] {
  const verbose = settings.verbose === true ? 'v' : settings.verbose || '';
  return [
    '--inventory', files.inventory,
    '--limit', files.limit,
    ...(files.local ? ['--connection', 'local'] : []),
    ...(files.extraVarsFile ? ['--extra-vars', `@${files.extraVarsFile}`] : []),
    ...(settings.tags ? ['--tags', joined(settings.tags)] : []),
    ...(settings.skip_tags ? ['--skip-tags', joined(settings.skip_tags)] : []),
    ...(settings.become ? ['--become'] : []),
    ...(verbose ? [`-${verbose}`] : []),
    files.playbook,
  ];
}

/** ansible-galaxy's argv to install a requirements file's roles (before the play). */
export function galaxyArgs(roleFile: string, rolesPath: string): string[] {
  return ['install', '--role-file', roleFile, '--roles-path', rolesPath, '--force'];
}

/**
 * The environment of a run: no host key checks (box's machines get new keys with every
 * create; the inventory's ssh args say the same to ssh), no .retry files next to the playbook,
 * output unbuffered so it streams as it comes, the user's ansible.cfg when given.
 */
export function playbookEnv(settings: {config_file?: string}, configFile = settings.config_file, rolesPath?: string): Record<string, string> {
  return {
    ANSIBLE_HOST_KEY_CHECKING: 'False',
    ANSIBLE_RETRY_FILES_ENABLED: 'False',
    PYTHONUNBUFFERED: '1',
    ...(configFile ? {ANSIBLE_CONFIG: configFile} : {}),
    ...(rolesPath ? {ANSIBLE_ROLES_PATH: rolesPath} : {}),
  };
}
