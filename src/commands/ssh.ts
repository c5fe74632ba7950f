import {Args, Flags} from '@oclif/core';
import {projectFlags} from '../services/project-flags.js';
import {BaseCommand} from '../core/base-command.js';
import {BoxError, InterruptedError} from '../core/errors.js';
import {lifecycleOptions} from '../services/lifecycle/options.js';
import {runOpenSsh} from '../communicators/ssh/openssh.js';
import {sshTarget} from '../services/ssh.js';

export interface SshResult {
  machine: string;
  exitCode: number;
  stdout?: string;
  stderr?: string;
}

export default class Ssh extends BaseCommand {
  static override description = `Open a shell on a machine with the system's OpenSSH client, or run one command (-c).
With -c, box exits with the command's exit code.`;
  static override examples = ['<%= config.bin %> ssh', '<%= config.bin %> ssh web -c "uname -a"', '<%= config.bin %> ssh -c "exit 3"; echo $?'];

  // ignoreStdin on every command's arguments: oclif otherwise fills a missing one with whatever is
  // piped in, so `cat f | box ssh -c 'cat > f'` took the file for a machine name and swallowed it.
  static override args = {
    machine: Args.string({ignoreStdin: true, description: 'Machine name (optional when the project has one machine).'}),
  };

  static override flags = {
    ...projectFlags,
    command: Flags.string({char: 'c', description: 'Run this command instead of an interactive shell; its exit code becomes box\'s.'}),
  };

  async run(): Promise<SshResult> {
    const {flags, args} = await this.parse(Ssh);
    const interactive = flags.command === undefined;
    const target = await sshTarget({
      ...lifecycleOptions(flags, args.machine ? [args.machine] : [], this.ui, this.signal),
      command: flags.command,
      tty: interactive && process.stdin.isTTY,
    });
    const json = this.jsonEnabled();
    // With --json the command's output is captured into the document; otherwise it is the terminal's.
    const result = await runOpenSsh(target.args, {capture: json, signal: interactive ? undefined : this.signal});
    // `-c`: the terminal's Ctrl-C ends ssh (and with it the remote command) and box alike.
    if (!interactive && this.signal.aborted) throw new InterruptedError();
    if (result.exitCode === undefined) {
      throw new BoxError('ERR_SSH_CLIENT', `Could not run ssh: ${result.failure}`, {hint: 'Install the OpenSSH client (Debian/Ubuntu: `apt-get install openssh-client`).'});
    }
    const exitCode = result.exitCode;
    process.exitCode = exitCode;
    return {machine: target.machine, exitCode, ...(json ? {stdout: String(result.stdout), stderr: String(result.stderr)} : {})};
  }
}
