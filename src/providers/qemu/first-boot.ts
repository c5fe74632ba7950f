import {randomBytes} from 'node:crypto';
import {readFile, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {ensureMachineKey} from '../../communicators/keys.js';
import {guestKeyLine, noCloudInitLine, plainConsoleText} from '../shared/boot-phases.js';
import {FIRST_BOOT_FW_CFG, firstBootScript} from '../shared/guest-scripts.js';
import {qemuFiles} from './files.js';

/** What one boot hands over: the fw_cfg entry for QEMU, and the nonce the guest will echo. */
export interface FirstBootHandover {
  fwCfg: {name: string; file: string};
  nonce: string;
}

/**
 * Writes what a box-built guest's box-first-boot.service takes before sshd starts (the machine's
 * PUBLIC key, password lock, host name): the private key never leaves the host. A guest without
 * that unit ignores the entry, prints no line, and box swaps the key over SSH as before.
 */
export async function writeFirstBootHandover(dir: string, options: {username: string; hostname?: string}): Promise<FirstBootHandover> {
  const key = await ensureMachineKey(dir);
  const nonce = randomBytes(8).toString('hex');
  const file = path.join(dir, qemuFiles.firstBoot);
  await writeFile(file, firstBootScript({username: options.username, publicKey: key.publicKey, hostname: options.hostname, nonce, doneLine: guestKeyLine(nonce), noCloudInitLine: noCloudInitLine(nonce)}), {mode: 0o600});
  return {fwCfg: {name: FIRST_BOOT_FW_CFG, file}, nonce};
}

/**
 * Did the guest say, on its serial console, that it took the key handed over at the boot with
 * this nonce? (The line comes before sshd starts, so it is in the log once SSH answers.)
 */
export async function guestTookKey(serialLog: string, nonce: string | undefined): Promise<{tookKey: boolean; noCloudInit: boolean}> {
  if (nonce === undefined) return {tookKey: false, noCloudInit: false};
  const text = plainConsoleText(await readFile(serialLog, 'utf8').catch(() => ''));
  const tookKey = text.includes(guestKeyLine(nonce));
  return {tookKey, noCloudInit: tookKey && text.includes(noCloudInitLine(nonce))};
}

/**
 * The fw_cfg entries a recorded launch had (a suspended machine's QEMU arguments): a resume hands
 * them again, as QEMU must start with the same devices as the QEMU whose state it loads.
 */
export function launchFwCfg(launch: readonly string[]): Array<{name: string; file: string}> {
  const entries: Array<{name: string; file: string}> = [];
  for (let i = 0; i < launch.length - 1; i++) {
    if (launch[i] !== '-fw_cfg') continue;
    // `name=NAME,file=PATH`, commas in PATH doubled (args.ts qemuEscape).
    const match = /^name=([^,]+),file=(.*)$/s.exec(launch[i + 1]!);
    if (match) entries.push({name: match[1]!, file: match[2]!.replaceAll(',,', ',')});
  }
  return entries;
}
