import {stat} from 'node:fs/promises';
import path from 'node:path';
import {runGuestScript} from '../../communicators/run-script.js';
import {shellQuote} from '../../communicators/ssh/remote-command.js';
import {BoxError} from '../../core/errors.js';
import {provisionerFailed} from '../failure.js';
import {ensureGuestTool} from '../guest-install.js';
import {withGuestWorkdir} from '../guest-workdir.js';
import {OutputLines} from '../output-lines.js';
import type {Provisioner} from '../provisioner.js';
import {facterEnv, failedPuppetResource, puppetApplyArgs, puppetLayout, puppetSucceeded} from './arguments.js';
import {asList} from '../settings-list.js';
import {puppetHostFiles, puppetHostPaths, puppetManifest, puppetSettingsSchema, type PuppetSettings} from './settings.js';

export function puppetLabel(config: {name?: string; manifest_file?: string}): string {
  return config.name ?? puppetManifest(config).file;
}

/** The puppet program: in binary_path when set, else found on PATH. */
function puppetBinary(config: PuppetSettings): string {
  return config.binary_path ? `${config.binary_path.replace(/\/$/, '')}/puppet` : 'puppet';
}

/**
 * Vagrant's `puppet` provisioner (apply, no server): the manifests folder, module folders and
 * hiera config go to a fresh /tmp/box-puppet-XXXXXXXX in the guest (removed afterwards), and
 * `puppet apply --detailed-exitcodes` runs as root with the facter facts as FACTER_* variables.
 * 2 (changes) is success; 1, 4 and 6 fail naming the resource puppet reports.
 */
export const puppetProvisioner: Provisioner<PuppetSettings> = {
  type: 'puppet',
  boxfile: {schema: puppetSettingsSchema, hostFiles: puppetHostFiles, hostPaths: puppetHostPaths},
  describe: (config) => `puppet ${puppetLabel(config)}`,
  async provision(ctx, config) {
    const name = puppetLabel(config);
    const label = `Provisioner "${name}" (puppet)`;
    const prefix = ctx.outputPrefix ?? '│';
    const binary = puppetBinary(config);
    const manifest = puppetManifest(config);
    const manifests = path.resolve(ctx.projectRoot, manifest.folder);
    if (!(await stat(path.join(manifests, manifest.file)).then((s) => s.isFile() || s.isDirectory(), () => false))) {
      throw new BoxError('ERR_PROVISION_SOURCE_MISSING', `${label}: manifest ${path.join(manifests, manifest.file)} not found.`, {
        hint: 'manifests_path (default manifests) is relative to the folder holding the Boxfile; manifest_file (default default.pp) is inside it.',
      });
    }

    await ensureGuestTool(ctx, {tool: 'puppet', program: binary, packages: {apt: 'puppet', dnf: 'puppet', zypper: 'puppet'}}, {
      type: 'puppet', name, install: config.install !== false && !config.binary_path,
      refusedHint: config.binary_path ? 'Check binary_path: it names the folder holding the puppet program in the guest.' : 'Install puppet in the box (or drop `install: false` to let box install it from the guest\'s packages).',
    });

    return withGuestWorkdir(ctx.comm, {prefix: 'box-puppet', label, signal: ctx.signal}, async (remote) => {
      const upload = (from: string, to: string) => ctx.comm.upload(path.resolve(ctx.projectRoot, from), to, {signal: ctx.signal});
      const layout = puppetLayout(config, remote);
      await upload(manifests, layout.manifests);
      for (const [i, folder] of asList(config.module_path).entries()) await upload(folder, layout.modules[i]!);
      if (config.hiera_config_path && layout.hiera) await upload(config.hiera_config_path, layout.hiera);

      let resource: string | undefined;
      const lines = new OutputLines((line) => {
        resource ??= failedPuppetResource(line);
        ctx.ui.output(prefix, line);
      });
      // From the manifests folder, as Vagrant does: relative paths in manifests resolve there.
      const command = `cd ${shellQuote(layout.manifests)} && exec ${[binary, ...puppetApplyArgs(config, remote)].map((a) => shellQuote(a)).join(' ')}`;
      const code = await runGuestScript(ctx.comm, {inline: command}, {privileged: true, env: facterEnv(config.facter), signal: ctx.signal, prefix: 'box-puppet', onOutput: (s, d) => lines.push(s, d)}).finally(() => lines.flush());
      const result = puppetSucceeded(code);
      if (!result.ok) {
        throw provisionerFailed({
          type: 'puppet', name, exitCode: code, outputTail: lines.tail(), ...(resource ? {task: `resource ${resource}`} : {}),
          hint: 'Fix the manifest, then run `box provision` (or `box provision --provision-with NAME`) to apply it again.',
        });
      }
      return {details: {changed: result.changed, exitCode: code}};
    });
  },
};
