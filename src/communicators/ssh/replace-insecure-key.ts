import {BoxError, errorMessage} from '../../core/errors.js';
import type {Communicator} from '../communicator.js';
import {INSECURE_PUBLIC_KEY} from '../insecure-key.js';
import {publicKeyOf, type KeyPair} from '../keys.js';
import {shellQuote} from './remote-command.js';
import {SshCommunicator} from './ssh-communicator.js';

export interface ReplaceKeyOptions {
  /** authorized_keys of the SSH user (default `$HOME/.ssh/authorized_keys`). */
  authorizedKeysPath?: string;
  signal?: AbortSignal;
}

/** "ssh-ed25519 AAAA... comment" → "AAAA..." (what identifies a key in authorized_keys). */
function keyBody(line: string): string {
  const body = line.trim().split(/\s+/)[1];
  if (!body) throw new BoxError('ERR_SSH_KEY_INVALID', `Not an OpenSSH public key: ${JSON.stringify(line.slice(0, 40))}`);
  return body;
}

async function run(comm: Communicator, script: string, what: string, signal?: AbortSignal): Promise<void> {
  let output = '';
  const code = await comm.exec(script, {sudo: false, signal, onOutput: (_stream, data) => (output += data)});
  if (code !== 0) {
    throw new BoxError('ERR_SSH_KEY_REPLACE', `Could not ${what} (exit code ${code}): ${output.trim().slice(-500)}`, {
      hint: 'The SSH user must own its ~/.ssh/authorized_keys; check the box was built with a writable home.',
    });
  }
}

/**
 * Swaps the key we logged in with (Vagrant's insecure key on first boot) for a per-machine key,
 * as Vagrant does: append the new key to authorized_keys, log in with it to prove it works,
 * and only then remove the old key, through the new connection. If the check fails the old key
 * stays, so the machine is never locked out.
 *
 * Pass the whole key pair to get the login check (recommended; needs an SshCommunicator);
 * with only the public key the check is that the line is present in authorized_keys.
 */
export async function replaceInsecureKey(comm: Communicator, newKey: string | KeyPair, options: ReplaceKeyOptions = {}): Promise<{verified: boolean}> {
  const publicKey = (typeof newKey === 'string' ? newKey : newKey.publicKey).trim();
  const newBody = keyBody(publicKey);
  const oldBody = keyBody(comm instanceof SshCommunicator ? publicKeyOf(comm.options.privateKey) : INSECURE_PUBLIC_KEY);
  const file = options.authorizedKeysPath ? shellQuote(options.authorizedKeysPath) : '"$HOME/.ssh/authorized_keys"';

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
  ].join('\n'), 'add the machine key to authorized_keys', options.signal);

  if (newBody === oldBody) return {verified: true};

  let remover: Communicator = comm;
  let verifier: SshCommunicator | undefined;
  if (typeof newKey !== 'string' && comm instanceof SshCommunicator) {
    verifier = comm.withKey(newKey.privateKey);
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
  } else {
    await run(comm, `grep -qF ${shellQuote(newBody)} ${file}`, 'find the machine key in authorized_keys after adding it', options.signal);
  }

  try {
    await run(remover, [
      `f=${file}`,
      'tmp="$f.box-$$"',
      `grep -vF ${shellQuote(oldBody)} "$f" > "$tmp" || true`,
      // cat > keeps the file's owner and mode, unlike mv.
      'cat "$tmp" > "$f" && rm -f "$tmp"',
    ].join('\n'), 'remove the old key from authorized_keys', options.signal);
  } finally {
    await verifier?.close();
  }

  return {verified: verifier !== undefined};
}
