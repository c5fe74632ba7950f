import {BoxError, errorMessage} from '../../core/errors.js';
import type {Communicator} from '../communicator.js';
import {INSECURE_PUBLIC_KEY} from '../insecure-key.js';
import {publicKeyOf, type KeyPair} from '../keys.js';
import {shellQuote} from './remote-command.js';
import {SshCommunicator} from './ssh-communicator.js';

export interface ReplaceKeyOptions {
  /** authorized_keys of the SSH user (default `$HOME/.ssh/authorized_keys`). */
  authorizedKeysPath?: string;
  /**
   * The key to remove (default: the one `comm` logged in with, else Vagrant's insecure key).
   * Given when finishing a swap that an interrupted run already began, logged in with the new key.
   */
  oldPublicKey?: string;
  /**
   * A shell script run in the SAME command as the old key's removal (so in the same SSH round
   * trip), as the SSH user, once the removal succeeded: what must change together with the key
   * (locking password logins). `what` names it in the error when the script fails.
   */
  thenRun?: {script: string; what: string};
  signal?: AbortSignal;
}

/** "ssh-ed25519 AAAA... comment" → "AAAA..." (what identifies a key in authorized_keys). */
function keyBody(line: string): string {
  const body = line.trim().split(/\s+/)[1];
  if (!body) throw new BoxError('ERR_SSH_KEY_INVALID', `Not an OpenSSH public key: ${JSON.stringify(line.slice(0, 40))}`);
  return body;
}

/** Exit codes of the removal command, so one round trip can say which part failed. */
const REMOVAL_FAILED = 90;
const THEN_FAILED = 91;

async function run(comm: Communicator, script: string, what: (code: number) => string, signal?: AbortSignal): Promise<void> {
  let output = '';
  const code = await comm.exec(script, {sudo: false, signal, onOutput: (_stream, data) => (output += data)});
  if (code !== 0) {
    throw new BoxError('ERR_SSH_KEY_REPLACE', `Could not ${what(code)} (exit code ${code}): ${output.trim().slice(-500)}`, {
      hint: 'The SSH user must own its ~/.ssh/authorized_keys and may use sudo without a password (Vagrant\'s base box rules).',
    });
  }
}

/**
 * Swaps the key we logged in with (Vagrant's insecure key on first boot) for a per-machine key,
 * as Vagrant does: append the new key to authorized_keys, log in with it to prove it works,
 * and only then remove the old key, through the new connection. If the check fails the old key
 * stays, so the machine is never locked out. Every part is idempotent: running it again (also
 * logged in with the new key, after an interrupted run) finishes what is left.
 *
 * Pass the whole key pair to get the login check (recommended; needs an SshCommunicator);
 * with only the public key the check is that the line is present in authorized_keys.
 */
export async function replaceInsecureKey(comm: Communicator, newKey: string | KeyPair, options: ReplaceKeyOptions = {}): Promise<{verified: boolean}> {
  const publicKey = (typeof newKey === 'string' ? newKey : newKey.publicKey).trim();
  const newBody = keyBody(publicKey);
  const loggedInWith = comm instanceof SshCommunicator ? keyBody(publicKeyOf(comm.options.privateKey)) : undefined;
  const oldBody = keyBody(options.oldPublicKey ?? (comm instanceof SshCommunicator ? publicKeyOf(comm.options.privateKey) : INSECURE_PUBLIC_KEY));
  const file = options.authorizedKeysPath ? shellQuote(options.authorizedKeysPath) : '"$HOME/.ssh/authorized_keys"';

  // Logged in with the new key already: it is in authorized_keys, and proven.
  if (loggedInWith !== newBody) {
    await run(comm, [
      'set -e',
      `f=${file}`,
      'umask 077',
      'mkdir -p "$(dirname "$f")"',
      'touch "$f"',
      `if ! grep -qF ${shellQuote(newBody)} "$f"; then`,
      // Never glue the new key onto a last line that lacks its newline.
      '  if [ -s "$f" ] && [ -n "$(tail -c1 "$f")" ]; then echo >> "$f"; fi',
      `  printf '%s\\n' ${shellQuote(publicKey)} >> "$f"`,
      'fi',
      'chmod 600 "$f"',
    ].join('\n'), () => 'add the machine key to authorized_keys', options.signal);
  }

  let remover: Communicator = comm;
  let verifier: SshCommunicator | undefined;
  let verified = loggedInWith === newBody;
  if (newBody !== oldBody && !verified) {
    if (typeof newKey !== 'string' && comm instanceof SshCommunicator) {
      verifier = comm.withKey(newKey.privateKey, 'the new machine key');
      try {
        await verifier.connect(undefined, options.signal);
      } catch (error) {
        await verifier.close();
        throw new BoxError('ERR_SSH_KEY_REPLACE', `The new machine key was added but logging in with it failed: ${errorMessage(error)}. The old key was kept.`, {
          hint: 'Check the guest\'s sshd accepts ed25519 keys (OpenSSH 6.5 or later).',
          cause: error,
        });
      }
      remover = verifier;
      verified = true;
    } else {
      await run(comm, `grep -qF ${shellQuote(newBody)} ${file}`, () => 'find the machine key in authorized_keys after adding it', options.signal);
    }
  }

  const removal = newBody === oldBody ? [] : [
    `f=${file}`,
    'tmp="$f.box-$$"',
    `{ grep -vF ${shellQuote(oldBody)} "$f" > "$tmp" || [ $? -eq 1 ]; } || exit ${REMOVAL_FAILED}`,
    // cat > keeps the file's owner and mode, unlike mv.
    `{ cat "$tmp" > "$f" && rm -f "$tmp"; } || exit ${REMOVAL_FAILED}`,
  ];
  const then = options.thenRun ? [`( ${options.thenRun.script}\n) || exit ${THEN_FAILED}`] : [];
  try {
    if (removal.length > 0 || then.length > 0) {
      await run(remover, [...removal, ...then].join('\n'), (code) => code === THEN_FAILED && options.thenRun
        ? `${options.thenRun.what} (the old key was removed)`
        : 'remove the old key from authorized_keys', options.signal);
    }
  } finally {
    await verifier?.close();
  }

  return {verified};
}
