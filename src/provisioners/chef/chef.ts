import {stat} from 'node:fs/promises';
import path from 'node:path';
import {runGuestScript, uploadText} from '../../communicators/run-script.js';
import {shellQuote} from '../../communicators/ssh/remote-command.js';
import {BoxError} from '../../core/errors.js';
import {provisionerFailed} from '../failure.js';
import {guestOutput, withGuestWorkdir} from '../guest-workdir.js';
import {OutputLines} from '../output-lines.js';
import type {Provisioner} from '../provisioner.js';
import {chefCommand, chefConfigFile, chefFolders, chefLayout, chefNodeJson, failedChefResource} from './config.js';
import {chefFolderSettings, chefHostPaths, chefSoloSettingsSchema, chefZeroSettingsSchema, type ChefSettings} from './settings.js';

export const CHEF_INSTALL_HINT = 'box does not download Chef\'s installer: bake Chef Infra Client (or Cinc Client, its free build) into the box, or install it with a shell provisioner before this one; binary_path names its folder when it is not on PATH (e.g. /opt/chef/bin).';

export function chefLabel(config: {name?: string; type: string; run_list: string[]}): string {
  return config.name ?? config.run_list.join(',');
}

/**
 * Vagrant's chef_solo and chef_zero: the cookbook, role, data bag and environment folders go to
 * a fresh /tmp/box-chef-XXXXXXXX in the guest with solo.rb (client.rb with local_mode for
 * chef_zero) and the node JSON; chef runs as root and the folder is removed afterwards. Chef
 * must be in the box: it is not in Debian's packages, and box does not fetch its installer.
 */
function chefProvisioner(type: 'chef_solo' | 'chef_zero'): Provisioner<ChefSettings> {
  return {
    type,
    boxfile: {schema: type === 'chef_zero' ? chefZeroSettingsSchema : chefSoloSettingsSchema, hostPaths: chefHostPaths},
    describe: (config) => `${type} ${chefLabel(config)}`,
    async provision(ctx, config) {
      const name = chefLabel(config);
      const label = `Provisioner "${name}" (${type})`;
      const prefix = ctx.outputPrefix ?? '│';
      for (const key of chefFolderSettings) {
        for (const folder of chefFolders(config, key)) {
          const abs = path.resolve(ctx.projectRoot, folder);
          if (!(await stat(abs).then((s) => s.isDirectory(), () => false))) {
            throw new BoxError('ERR_PROVISION_SOURCE_MISSING', `${label}: ${key} ${abs} is not a folder.`, {
              hint: 'Paths in the Boxfile\'s provisioners are relative to the folder holding the Boxfile.',
            });
          }
        }
      }
      const probe = chefCommand(config, '/tmp');
      if ((await guestOutput(ctx.comm, `command -v ${shellQuote(probe.program)}`, ctx.signal)).code !== 0) {
        throw new BoxError('ERR_PROVISION_FAILED', `${label}: ${probe.program} is not installed in ${ctx.machine}.`, {hint: CHEF_INSTALL_HINT});
      }

      return withGuestWorkdir(ctx.comm, {prefix: 'box-chef', label, signal: ctx.signal}, async (remote) => {
        const layout = chefLayout(config, remote);
        for (const key of chefFolderSettings) {
          for (const [i, folder] of chefFolders(config, key).entries()) {
            await ctx.comm.upload(path.resolve(ctx.projectRoot, folder), layout[key][i]!, {signal: ctx.signal});
          }
        }
        const command = chefCommand(config, remote);
        await uploadText(ctx.comm, chefConfigFile(config, remote, ctx.machine), command.configFile, ctx.signal);
        await uploadText(ctx.comm, chefNodeJson(config), `${remote}/node.json`, ctx.signal);

        let resource: string | undefined;
        const lines = new OutputLines((line) => {
          resource ??= failedChefResource(line);
          ctx.ui.output(prefix, line);
        });
        const inline = `cd ${shellQuote(remote)} && exec ${[command.program, ...command.args].map((a) => shellQuote(a)).join(' ')}`;
        const code = await runGuestScript(ctx.comm, {inline}, {privileged: true, signal: ctx.signal, prefix: 'box-chef', onOutput: (s, d) => lines.push(s, d)}).finally(() => lines.flush());
        if (code !== 0) {
          throw provisionerFailed({
            type, name, exitCode: code, outputTail: lines.tail(), ...(resource ? {task: `resource ${resource}`} : {}),
            hint: 'Fix the cookbooks, then run `box provision` (or `box provision --provision-with NAME`) to converge again.',
          });
        }
      });
    },
  };
}

export const chefSoloProvisioner = chefProvisioner('chef_solo');
export const chefZeroProvisioner = chefProvisioner('chef_zero');
