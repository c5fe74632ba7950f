import {readFile} from 'node:fs/promises';
import path from 'node:path';
import {shellProvisionerSchema, type ShellProvisionerConfig} from '../boxfile/schema.js';
import {runGuestScript} from '../communicators/run-script.js';
import {BoxError} from '../core/errors.js';
import {provisionerFailed} from './failure.js';
import {OutputLines} from './output-lines.js';
import type {ProvisionContext, Provisioner} from './provisioner.js';

function label(config: ShellProvisionerConfig): string {
  return config.name ?? (config.path ? path.basename(config.path) : 'inline script');
}

/** The script text: inline lines joined, or the host file (resolved against the project root). */
async function scriptText(ctx: ProvisionContext, config: ShellProvisionerConfig): Promise<string> {
  if (config.inline !== undefined) {
    return (Array.isArray(config.inline) ? config.inline.join('\n') : config.inline) + '\n';
  }

  const file = path.resolve(ctx.projectRoot, config.path!);
  try {
    return await readFile(file, 'utf8');
  } catch {
    throw new BoxError('ERR_PROVISION_SCRIPT_MISSING', `Shell provisioner script ${JSON.stringify(config.path)} not found (looked at ${file})`, {
      hint: 'Paths in the Boxfile\'s provisioners are relative to the folder holding the Boxfile.',
    });
  }
}

/**
 * Runs a script in the guest the way Vagrant's shell provisioner does (see runGuestScript):
 * uploaded to /tmp and executed with sudo unless `privileged: false`, in its own process group
 * that Ctrl-C stops. Output is streamed line by line; a non-zero exit fails with the exit code
 * and the last lines of output.
 */
export const shellProvisioner: Provisioner<ShellProvisionerConfig> = {
  type: 'shell',
  boxfile: {schema: shellProvisionerSchema},
  describe: (config) => `shell ${label(config)}`,
  async provision(ctx, config) {
    // Scripts written on Windows would fail on "\r" ("command not found"): normalise line ends.
    const script = (await scriptText(ctx, config)).replaceAll('\r\n', '\n');
    const prefix = ctx.outputPrefix ?? '│';
    const lines = new OutputLines((line) => ctx.ui.output(prefix, line));
    let code: number;
    try {
      code = await runGuestScript(ctx.comm, {text: script}, {
        privileged: config.privileged ?? true,
        args: config.args,
        env: config.env,
        signal: ctx.signal,
        prefix: 'box-shell',
        onOutput: (stream, data) => lines.push(stream, data),
      });
    } finally {
      lines.flush();
    }

    if (code !== 0) {
      throw provisionerFailed({type: 'shell', name: label(config), exitCode: code, outputTail: lines.tail(), hint: 'Fix the script, then run `box provision` to run the provisioners again.'});
    }
  },
};
