import {mkdtemp, rm, stat, writeFile} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import {BoxError} from '../../core/errors.js';
import {runStreaming} from '../../core/exec.js';
import {provisionerFailed} from '../failure.js';
import {OutputLines} from '../output-lines.js';
import {projectContextOf, type ProjectProvisionContext, type Provisioner} from '../provisioner.js';
import {galaxyArgs, playbookArgs, playbookEnv} from './arguments.js';
import {buildInventory, runLimit} from './inventory.js';
import {AnsibleOutput} from './output.js';
import {ansibleHostFiles, ansibleHostPaths, ansibleSettingsSchema, playbookLabel, type AnsibleSettings} from './settings.js';

const INSTALL_HINT = 'Install ansible on this host (Debian/Ubuntu: `sudo apt-get install ansible`; or `pipx install ansible-core`).';

/** A host file the settings name must exist when the run starts (validate checked it before). */
export async function requireHostFile(config: {name?: string; playbook: string}, type: string, field: string, file: string): Promise<void> {
  if (await stat(file).then(() => true, () => false)) return;
  throw new BoxError('ERR_PROVISION_SOURCE_MISSING', `Provisioner "${playbookLabel(config)}" (${type}): ${field} ${file} not found.`, {
    hint: 'Paths in the Boxfile\'s provisioners are relative to the folder holding the Boxfile.',
  });
}

/** Runs one host tool of a provisioner, streaming its lines with `prefix`; resolves with its exit code. */
async function runTool(ctx: ProjectProvisionContext, file: string, args: string[], env: Record<string, string>, lines: OutputLines): Promise<number> {
  try {
    return await runStreaming(file, args, {cwd: ctx.projectRoot, env, signal: ctx.signal, errorCode: 'ERR_ANSIBLE_MISSING', hint: INSTALL_HINT, onOutput: (stream, data) => lines.push(stream, data)});
  } finally {
    lines.flush();
  }
}

/**
 * Vagrant's `ansible` provisioner: the host's ansible-playbook against the machines over SSH,
 * with an inventory box writes from the project (see buildInventory) unless `inventory_path`
 * names the user's own. Project-wide: one run covers every machine that lists it, after they
 * are all up. Files of the run (inventory, extra vars) live in a temp folder removed afterwards.
 */
export const ansibleProvisioner: Provisioner<AnsibleSettings> = {
  type: 'ansible',
  scope: 'project',
  boxfile: {schema: ansibleSettingsSchema, hostFiles: ansibleHostFiles, hostPaths: ansibleHostPaths},
  describe: (config) => `ansible ${playbookLabel(config)}`,
  provision(ctx, config) {
    return ansibleProvisioner.provisionProject!(projectContextOf(ctx), config);
  },
  async provisionProject(ctx, config) {
    const name = playbookLabel(config);
    const playbook = path.resolve(ctx.projectRoot, config.playbook);
    await requireHostFile(config, 'ansible', 'playbook', playbook);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'box-ansible-'));
    const prefix = ctx.outputPrefix ?? '│';
    try {
      const inventory = config.inventory_path ? path.resolve(ctx.projectRoot, config.inventory_path) : path.join(dir, 'inventory.yml');
      if (!config.inventory_path) {
        await writeFile(inventory, YAML.stringify(buildInventory({project: ctx.project, machines: ctx.machines, targets: ctx.targets, groups: config.groups})), {mode: 0o600});
      }
      let extraVarsFile: string | undefined;
      if (typeof config.extra_vars === 'string') extraVarsFile = path.resolve(ctx.projectRoot, config.extra_vars.replace(/^@/, ''));
      else if (config.extra_vars) await writeFile(extraVarsFile = path.join(dir, 'extra-vars.json'), JSON.stringify(config.extra_vars), {mode: 0o600});
      const configFile = config.config_file ? path.resolve(ctx.projectRoot, config.config_file) : undefined;
      const env = playbookEnv(config, configFile);
      if (config.galaxy_role_file) {
        const roleFile = path.resolve(ctx.projectRoot, config.galaxy_role_file);
        const rolesPath = config.galaxy_roles_path ? path.resolve(ctx.projectRoot, config.galaxy_roles_path) : path.join(path.dirname(playbook), 'roles');
        const lines = new OutputLines((line) => ctx.ui.output(prefix, line));
        const code = await runTool(ctx, 'ansible-galaxy', galaxyArgs(roleFile, rolesPath), env, lines);
        if (code !== 0) throw provisionerFailed({type: 'ansible', name, exitCode: code, task: 'ansible-galaxy install', outputTail: lines.tail()});
        env.ANSIBLE_ROLES_PATH = rolesPath;
      }
      const output = new AnsibleOutput();
      const lines = new OutputLines((line) => {
        output.line(line);
        ctx.ui.output(prefix, line);
      });
      const args = playbookArgs(config, {playbook, inventory, extraVarsFile, limit: runLimit(config.limit, ctx.targets, Boolean(config.inventory_path))});
      const code = await runTool(ctx, 'ansible-playbook', args, env, lines);
      if (code !== 0) {
        throw provisionerFailed({
          type: 'ansible', name, exitCode: code, outputTail: lines.tail(),
          ...(output.failedTask ? {task: `task "${output.failedTask}"`} : {}), ...(output.failedHost ? {host: output.failedHost} : {}),
          hint: 'Fix the playbook, then run `box provision` (or `box provision --provision-with NAME`) to run it again.',
        });
      }
      return {details: {recap: output.recap}};
    } finally {
      await rm(dir, {recursive: true, force: true});
    }
  },
};
