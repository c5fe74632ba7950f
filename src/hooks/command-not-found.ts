import type {Hook} from '@oclif/core';
import {didYouMean} from '../boxfile/issues.js';
import {ExitCode, UsageError} from '../core/errors.js';

/**
 * `box nosuch`: a usage error (exit 2) with a did-you-mean, and with --json the same
 * `{"error": {...}}` document every command prints, so scripts never get an empty stdout.
 */
const hook: Hook.CommandNotFound = async function (options) {
  const typed = options.id.replaceAll(':', ' ');
  const known = options.config.commandIDs.map((id) => id.replaceAll(':', ' '));
  const suggestion = didYouMean(typed, known);
  const error = new UsageError('ERR_UNKNOWN_COMMAND', `${options.config.bin} ${typed} is not a box command.`, {
    hint: `${suggestion ? `Did you mean \`${options.config.bin} ${suggestion}\`? ` : ''}Run \`${options.config.bin} --help\` for the list of commands.`,
  });
  if ((options.argv ?? []).includes('--json')) process.stdout.write(`${JSON.stringify({error: error.toJSON()}, null, 2)}\n`);
  else process.stderr.write(`Error: ${error.message}\nHint: ${error.hint}\n`);
  process.exit(ExitCode.usage);
};

export default hook;
