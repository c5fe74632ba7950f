import {ENV_NAME} from '../../core/env-name.js';
import {BoxError} from '../../core/errors.js';

/** Quotes a value for a POSIX shell: single quotes, with embedded ones written as '\''. */
export function shellQuote(value: string): string {
  if (value !== '' && /^[\w@%+=:,./-]+$/.test(value)) return value;
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/**
 * The command line sent to the guest. Environment variables go through `env K=V` on the
 * command line rather than the SSH "env" request, because sshd drops those unless AcceptEnv
 * names them. With sudo we use `-n` (never prompt: a password prompt would hang) and put the
 * variables after sudo so its env_reset cannot drop them.
 */
export function buildRemoteCommand(command: string, options: {sudo?: boolean; env?: Record<string, string>} = {}): string {
  const entries = Object.entries(options.env ?? {});
  for (const [name] of entries) {
    if (!ENV_NAME.test(name)) {
      throw new BoxError('ERR_SSH_BAD_ENV', `Invalid environment variable name ${JSON.stringify(name)}`, {
        hint: 'Names must start with a letter or underscore and contain only letters, digits and underscores.',
      });
    }
  }

  if (!options.sudo && entries.length === 0) return command;
  const envPart = entries.length > 0 ? `env ${entries.map(([k, v]) => `${k}=${shellQuote(v)}`).join(' ')} ` : '';
  const sudoPart = options.sudo ? 'sudo -n ' : '';
  return `${sudoPart}${envPart}sh -c ${shellQuote(command)}`;
}
