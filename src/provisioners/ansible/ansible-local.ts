import {mkdtemp, rm, writeFile} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import {runGuestScript} from '../../communicators/run-script.js';
import {shellQuote} from '../../communicators/ssh/remote-command.js';
import {BoxError} from '../../core/errors.js';
import {provisionerFailed} from '../failure.js';
import {ensureGuestTool} from '../guest-install.js';
import {withGuestWorkdir} from '../guest-workdir.js';
import {OutputLines} from '../output-lines.js';
import type {ProvisionContext, Provisioner} from '../provisioner.js';
import {requireHostFile} from './ansible.js';
import {galaxyArgs, playbookArgs, playbookEnv} from './arguments.js';
import {buildInventory, runLimit} from './inventory.js';
import {AnsibleOutput} from './output.js';
import {ansibleHostFiles, ansibleHostPaths, ansibleLocalSettingsSchema, playbookLabel, type AnsibleLocalSettings} from './settings.js';

/**
 * Vagrant's `ansible_local`: ansible-playbook runs IN the guest with `-c local`. Ansible is
 * installed from the guest's packages when missing (`install: false` refuses instead); the
 * playbook's folder (roles, templates and vars next to it come along) and the run's files go to
 * a fresh /tmp/box-ansible-XXXXXXXX in the guest, removed afterwards whatever happened.
 */
export const ansibleLocalProvisioner: Provisioner<AnsibleLocalSettings> = {
  type: 'ansible_local',
  boxfile: {schema: ansibleLocalSettingsSchema, hostFiles: ansibleHostFiles, hostPaths: ansibleHostPaths},
  describe: (config) => `ansible_local ${playbookLabel(config)}`,
  async provision(ctx, config) {
    const name = playbookLabel(config);
    const playbook = path.resolve(ctx.projectRoot, config.playbook);
    await requireHostFile(config, 'ansible_local', 'playbook', playbook);
    const prefix = ctx.outputPrefix ?? '│';
    const fail = (exitCode: number, task: string, lines: OutputLines, hint?: string) => provisionerFailed({type: 'ansible_local', name, exitCode, task, outputTail: lines.tail(), ...(hint ? {hint} : {})});

    await ensureGuestTool(ctx, {tool: 'ansible', program: 'ansible-playbook', packages: {apt: 'ansible-core', dnf: 'ansible-core', zypper: 'ansible'}}, {
      type: 'ansible_local', name, install: config.install !== false,
      refusedHint: 'Install ansible in the box (or drop `install: false` to let box install it from the guest\'s packages).',
    });

    const local = await mkdtemp(path.join(os.tmpdir(), 'box-ansible-local-'));
    try {
      return await withGuestWorkdir(ctx.comm, {prefix: 'box-ansible', label: `Provisioner "${name}" (ansible_local)`, signal: ctx.signal},
        (remote) => runInGuest(ctx, config, {name, playbook, remote, local, prefix, fail}));
    } finally {
      await rm(local, {recursive: true, force: true});
    }
  },
};

async function runInGuest(
  ctx: ProvisionContext, config: AnsibleLocalSettings,
  run: {name: string; playbook: string; remote: string; local: string; prefix: string; fail: (code: number, task: string, lines: OutputLines, hint?: string) => BoxError},
): Promise<{details: Record<string, unknown>}> {
  const {remote, local} = run;
  const upload = (from: string, to: string) => ctx.comm.upload(from, to, {signal: ctx.signal});
  await upload(path.dirname(run.playbook), `${remote}/playbook`);
  let inventory = `${remote}/inventory.yml`;
  if (config.inventory_path) {
    inventory = `${remote}/inventory`;
    await upload(path.resolve(ctx.projectRoot, config.inventory_path), inventory);
  } else {
    const written = buildInventory({
      project: ctx.project ?? {name: ctx.machine},
      machines: [{name: ctx.machine, local: true, ...(ctx.privateIp ? {privateIp: ctx.privateIp} : {})}],
      targets: [ctx.machine], groups: config.groups,
    });
    await writeFile(path.join(local, 'inventory.yml'), YAML.stringify(written));
    await upload(path.join(local, 'inventory.yml'), inventory);
  }
  let extraVarsFile: string | undefined;
  if (typeof config.extra_vars === 'string') {
    const file = path.resolve(ctx.projectRoot, config.extra_vars.replace(/^@/, ''));
    await upload(file, extraVarsFile = `${remote}/extra-vars${path.extname(file)}`);
  } else if (config.extra_vars) {
    await writeFile(path.join(local, 'extra-vars.json'), JSON.stringify(config.extra_vars));
    await upload(path.join(local, 'extra-vars.json'), extraVarsFile = `${remote}/extra-vars.json`);
  }
  let configFile: string | undefined;
  if (config.config_file) await upload(path.resolve(ctx.projectRoot, config.config_file), configFile = `${remote}/ansible.cfg`);
  let rolesPath: string | undefined;
  const env = playbookEnv(config, configFile);
  if (config.galaxy_role_file) {
    const roleFile = `${remote}/requirements${path.extname(config.galaxy_role_file)}`;
    await upload(path.resolve(ctx.projectRoot, config.galaxy_role_file), roleFile);
    rolesPath = `${remote}/roles`;
    const lines = new OutputLines((line) => ctx.ui.output(run.prefix, line));
    const code = await runGuestScript(ctx.comm, {inline: ['ansible-galaxy', ...galaxyArgs(roleFile, rolesPath)].map((a) => shellQuote(a)).join(' ')}, {privileged: false, env, signal: ctx.signal, prefix: 'box-ansible', onOutput: (s, d) => lines.push(s, d)}).finally(() => lines.flush());
    if (code !== 0) throw run.fail(code, 'ansible-galaxy install', lines);
    env.ANSIBLE_ROLES_PATH = `${rolesPath}:${remote}/playbook/roles`;
  }
  const output = new AnsibleOutput();
  const lines = new OutputLines((line) => {
    output.line(line);
    ctx.ui.output(run.prefix, line);
  });
  const args = playbookArgs(config as never, {
    playbook: `${remote}/playbook/${path.basename(run.playbook)}`, inventory, extraVarsFile, local: true,
    limit: runLimit(config.limit, [ctx.machine], Boolean(config.inventory_path)),
  });
  // From the playbook's folder, so an ansible.cfg there applies as it would for the user.
  const command = `cd ${shellQuote(`${remote}/playbook`)} && exec ansible-playbook ${args.map((a) => shellQuote(a)).join(' ')}`;
  const code = await runGuestScript(ctx.comm, {inline: command}, {privileged: false, env, signal: ctx.signal, prefix: 'box-ansible', onOutput: (s, d) => lines.push(s, d)}).finally(() => lines.flush());
  if (code !== 0) {
    throw provisionerFailed({
      type: 'ansible_local', name: run.name, exitCode: code, outputTail: lines.tail(),
      ...(output.failedTask ? {task: `task "${output.failedTask}"`} : {}), ...(output.failedHost ? {host: output.failedHost} : {}),
      hint: 'Fix the playbook, then run `box provision` (or `box provision --provision-with NAME`) to run it again.',
    });
  }
  return {details: {recap: output.recap}};
}
