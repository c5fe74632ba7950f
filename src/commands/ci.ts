import {Flags} from '@oclif/core';
import {durationMs} from '../builder/template.js';
import {shellQuote} from '../communicators/ssh/remote-command.js';
import {BaseCommand} from '../core/base-command.js';
import {UsageError} from '../core/errors.js';
import {ci, type CiResult, type DestroyPolicy} from '../services/ci.js';
import {concurrencyFlags, lifecycleOptions} from '../services/lifecycle/options.js';
import {projectFlags} from '../services/project-flags.js';

const {instance: _instance, ...ciProjectFlags} = projectFlags;

export default class Ci extends BaseCommand {
  static override description = `Run a CI job in throwaway machines: up (sync, provisioners) → the tests in each guest → artifacts back → JUnit report → destroy.
The machines are a new instance of the project (id from --id, else the CI's job variables, else random), so jobs never share a machine, port or lock. Exits with the tests' status: 0, the first failing command's exit code, 1 when an up failed, 124 after --timeout, 130/143 on SIGINT/SIGTERM (the machines are destroyed first).`;

  static override strict = false;
  static override usage = 'ci [--id ID] [--destroy always|passing|never] [--artifacts-dir DIR] [--junit FILE] [--timeout DURATION] [-- COMMAND...]';
  static override examples = [
    '<%= config.bin %> ci',
    '<%= config.bin %> ci -- \'cd src && make test\'',
    '<%= config.bin %> ci --destroy passing --timeout 30m',
    '<%= config.bin %> ci --target aws --json',
  ];

  static override flags = {
    ...ciProjectFlags,
    ...concurrencyFlags,
    id: Flags.string({description: 'Instance id (default: from the CI job: GITHUB_RUN_ID+GITHUB_RUN_ATTEMPT+GITHUB_JOB, CI_JOB_ID, BUILD_TAG, BUILDKITE_JOB_ID, CIRCLE_WORKFLOW_JOB_ID, BUILD_BUILDID+SYSTEM_JOBID, TRAVIS_JOB_ID; else random).', env: 'BOX_INSTANCE'}),
    destroy: Flags.string({description: 'When to destroy the machines: always, passing (keep them when a test failed, for debugging) or never.', options: ['always', 'passing', 'never'], default: 'always'}),
    'artifacts-dir': Flags.string({description: 'Where each machine\'s `artifacts:` go (DIR/MACHINE/...).', default: 'box-artifacts'}),
    junit: Flags.string({description: 'The JUnit XML report (default: ARTIFACTS-DIR/junit.xml).'}),
    timeout: Flags.string({description: 'Bound on the whole job, e.g. 30m, 1h, 900s (then the machines are destroyed and box ci exits 124).'}),
  };

  // A cancelled job's machines must be destroyed whole: a second SIGTERM waits for it.
  protected override readonly secondSignalWaits = true;

  async run(): Promise<CiResult> {
    const {flags, argv} = await this.parse(Ci);
    const words = argv.map(String);
    // One word is a shell command line (`box ci -- 'make && make test'`); several are a command
    // and its arguments, quoted as given.
    const command = words.length === 0 ? undefined : words.length === 1 ? words[0] : words.map(shellQuote).join(' ');
    return ci({
      ...lifecycleOptions(flags, [], this.ui, this.signal),
      id: flags.id,
      processEnv: process.env,
      command,
      destroy: flags.destroy as DestroyPolicy,
      artifactsDir: flags['artifacts-dir'],
      junit: flags.junit,
      timeoutMs: flags.timeout === undefined ? undefined : parseTimeout(flags.timeout),
    });
  }
}

function parseTimeout(text: string): number {
  const ms = /^\s*\d+(\.\d+)?\s*(ms|s|m|h)?\s*$/.test(text) ? durationMs(text) : Number.NaN;
  if (!(ms > 0)) throw new UsageError('ERR_USAGE', `--timeout ${JSON.stringify(text)} is not a duration.`, {hint: 'Use a number with s, m or h, e.g. --timeout 30m (a bare number is seconds).'});
  return ms;
}
