import {Help, type Command} from '@oclif/core';

const EXIT_CODES = `EXIT CODES
  0    success
  1    the operation failed (the message says why and what to try next)
  2    usage or configuration error (bad flag, invalid Boxfile or template)
  130  interrupted (Ctrl-C); cleanups ran before exiting
  143  terminated (SIGTERM, e.g. \`timeout\` or a CI job cancelled); cleanups ran`;

/** oclif help with the exit codes documented under every command, topic and the root. */
export default class BoxHelp extends Help {
  override formatCommand(command: Command.Loadable): string {
    return `${super.formatCommand(command)}\n\n${EXIT_CODES}`;
  }

  override async showRootHelp(): Promise<void> {
    await super.showRootHelp();
    this.log(`\n${EXIT_CODES}`);
  }

  override async showTopicHelp(topic: Parameters<Help['showTopicHelp']>[0]): Promise<void> {
    await super.showTopicHelp(topic);
    this.log(`\n${EXIT_CODES}`);
  }
}
