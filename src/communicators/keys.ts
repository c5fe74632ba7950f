import {mkdir, readFile, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {BoxError} from '../core/errors.js';
import {lazyRequire} from '../core/lazy-require.js';
import {machineFiles, userPaths} from '../core/paths.js';
import {INSECURE_PRIVATE_KEY} from './insecure-key.js';

const ssh2 = lazyRequire<typeof import('ssh2')>('ssh2');

export interface KeyPair {
  /** OpenSSH private key text ("-----BEGIN OPENSSH PRIVATE KEY-----"), usable by ssh2 and ssh(1). */
  privateKey: string;
  /** One authorized_keys line: "ssh-ed25519 AAAA... comment". */
  publicKey: string;
}

export interface MachineKey extends KeyPair {
  privateKeyPath: string;
  publicKeyPath: string;
}

/** A fresh ed25519 key pair in OpenSSH format (what `ssh-keygen -t ed25519` would write). */
export function generateKeyPair(comment = 'box'): KeyPair {
  for (;;) {
    const {utils} = ssh2();
    const pair = utils.generateKeyPairSync('ed25519', {comment});
    // ssh2 1.17 drops a leading zero byte of the key: about 1 pair in 270 comes out 31 bytes
    // long, and sshd, EC2's ImportKeyPair and ssh2 itself reject it. Draw again until it parses.
    if (!(utils.parseKey(pair.private) instanceof Error) && !(utils.parseKey(pair.public) instanceof Error)) {
      return {privateKey: pair.private, publicKey: pair.public.trim()};
    }
  }
}

/**
 * The per-machine key in `<machineDir>/id_ed25519{,.pub}`: read when it exists, otherwise
 * generated and written (private key 0600, as ssh(1) insists).
 */
export async function ensureMachineKey(dir: string, comment = `box-${path.basename(dir)}`): Promise<MachineKey> {
  const privateKeyPath = path.join(dir, machineFiles.privateKey);
  const publicKeyPath = path.join(dir, machineFiles.publicKey);
  try {
    const [privateKey, publicKey] = await Promise.all([readFile(privateKeyPath, 'utf8'), readFile(publicKeyPath, 'utf8')]);
    return {privateKey, publicKey: publicKey.trim(), privateKeyPath, publicKeyPath};
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }

  await mkdir(dir, {recursive: true});
  const pair = generateKeyPair(comment);
  await writeFile(privateKeyPath, pair.privateKey, {mode: 0o600});
  await writeFile(publicKeyPath, pair.publicKey + '\n', {mode: 0o644});
  return {...pair, privateKeyPath, publicKeyPath};
}

/**
 * Writes Vagrant's insecure private key to `$BOX_HOME/insecure_private_key` (0600) if it is not
 * there yet and returns its path, for ssh(1) and `box ssh-config` before the key is replaced.
 */
export async function insecureKeyPath(): Promise<string> {
  const file = userPaths.insecureKey();
  try {
    if ((await readFile(file, 'utf8')) === INSECURE_PRIVATE_KEY) return file;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }

  await mkdir(path.dirname(file), {recursive: true});
  await writeFile(file, INSECURE_PRIVATE_KEY, {mode: 0o600});
  return file;
}

/** The authorized_keys line (type + base64, no comment) of a private or public key. */
export function publicKeyOf(key: string | Buffer): string {
  const parsed = ssh2().utils.parseKey(key);
  const first = Array.isArray(parsed) ? parsed[0] : parsed;
  if (!first || first instanceof Error) {
    throw new BoxError('ERR_SSH_KEY_INVALID', `Cannot parse SSH key: ${first instanceof Error ? first.message : 'no key found'}`, {
      hint: 'Use an OpenSSH or PEM private key without a passphrase.',
    });
  }

  return `${first.type} ${first.getPublicSSH().toString('base64')}`;
}
