import type {Communicator} from '../communicators/communicator.js';
import {shellQuote} from '../communicators/ssh/remote-command.js';
import {BoxError} from '../core/errors.js';

/** Exit codes of the guest script, each one error below. */
const NO_SUDO = 90;
const NO_PACKAGE_MANAGER = 91;
const INSTALL_FAILED = 92;
const NO_SUCH_USER = 93;
const NO_SUCH_GROUP = 94;

/** Who should own what a folder copies: as written, or absent to take the SSH user and the owner's group. */
export interface WantedOwner {
  owner?: string;
  group?: string;
}

/**
 * The guest side of rsync folders, in one round trip: passwordless sudo (the guest's rsync runs
 * as root to apply owner and group), rsync itself (installed with apt-get, dnf, yum or zypper
 * when missing, as Vagrant does), each folder's destination created, and each owner and group
 * checked to exist, with the defaults filled in: the SSH user, and the owner's primary group.
 */
export function guestRsyncScript(destinations: readonly string[], owners: readonly WantedOwner[]): string {
  const install = [
    'if command -v apt-get >/dev/null 2>&1; then',
    '  sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -q rsync >/dev/null 2>&1 || { sudo -n apt-get update -q >/dev/null 2>&1 && sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -q rsync >/dev/null; } || exit ' + INSTALL_FAILED,
    'elif command -v dnf >/dev/null 2>&1; then sudo -n dnf install -y -q rsync >/dev/null || exit ' + INSTALL_FAILED,
    'elif command -v yum >/dev/null 2>&1; then sudo -n yum install -y -q rsync >/dev/null || exit ' + INSTALL_FAILED,
    'elif command -v zypper >/dev/null 2>&1; then sudo -n zypper --non-interactive --quiet install rsync >/dev/null || exit ' + INSTALL_FAILED,
    `else exit ${NO_PACKAGE_MANAGER}; fi`,
  ];
  const lines = [
    `sudo -n true >/dev/null 2>&1 || exit ${NO_SUDO}`,
    'if ! command -v rsync >/dev/null 2>&1; then',
    '  echo installing-rsync',
    ...install.map((line) => `  ${line}`),
    `  command -v rsync >/dev/null 2>&1 || exit ${INSTALL_FAILED}`,
    'fi',
    ...destinations.map((d) => `sudo -n mkdir -p ${shellQuote(d)}`),
  ];
  owners.forEach((wanted, index) => {
    const owner = wanted.owner === undefined ? '"$(id -un)"' : shellQuote(wanted.owner);
    lines.push(`id -u ${owner} >/dev/null 2>&1 || { echo ${owner} >&2; exit ${NO_SUCH_USER}; }`);
    if (wanted.group !== undefined) lines.push(`getent group ${shellQuote(wanted.group)} >/dev/null 2>&1 || { echo ${shellQuote(wanted.group)} >&2; exit ${NO_SUCH_GROUP}; }`);
    const group = wanted.group === undefined ? `"$(id -gn ${owner})"` : shellQuote(wanted.group);
    lines.push(`echo "owner ${index} $(id -un ${owner}) ${group}"`);
  });
  return lines.join('\n');
}

/**
 * Makes the guest ready for rsync (see guestRsyncScript) and returns each WantedOwner resolved
 * to names; `onInstall` is told when rsync is being installed (it takes a while).
 */
export async function prepareGuestForRsync(comm: Communicator, machine: string, destinations: readonly string[], owners: readonly WantedOwner[], options: {signal?: AbortSignal; onInstall?: () => void} = {}): Promise<Array<{owner: string; group: string}>> {
  let stdout = '';
  let stderr = '';
  const code = await comm.exec(guestRsyncScript(destinations, owners), {
    signal: options.signal,
    onOutput: (stream, data) => {
      if (stream === 'stderr') stderr += data;
      else {
        if (!stdout.includes('installing-rsync') && `${stdout}${data}`.includes('installing-rsync')) options.onInstall?.();
        stdout += data;
      }
    },
  });
  const said = stderr.trim().split('\n').pop() ?? '';
  switch (code) {
    case 0: break;
    case NO_SUDO:
      throw new BoxError('ERR_RSYNC_GUEST', `Cannot sync folders into ${machine}: its SSH user has no passwordless sudo (the guest's rsync runs as root to set owner and group).`, {
        hint: 'Vagrant\'s base box rules give the SSH user passwordless sudo; configure that in the box.',
      });
    case NO_PACKAGE_MANAGER:
      throw new BoxError('ERR_RSYNC_GUEST', `rsync is not installed in ${machine}, and box knows no package manager there (apt-get, dnf, yum, zypper) to install it.`, {
        hint: 'Install rsync in the guest (a shell provisioner cannot: folders sync before provisioners run), or build the box with it.',
      });
    case INSTALL_FAILED:
      throw new BoxError('ERR_RSYNC_GUEST', `rsync is not installed in ${machine}, and installing it with the guest's package manager failed.`, {
        hint: `Install rsync in the guest by hand (\`box ssh ${machine}\`), or build the box with it.`,
      });
    case NO_SUCH_USER:
      throw new BoxError('ERR_RSYNC_OWNER', `synced_folders owner ${said} does not exist in ${machine}.`, {hint: 'Name a user the box has, or create it first (a user made by a provisioner exists only after the first sync).'});
    case NO_SUCH_GROUP:
      throw new BoxError('ERR_RSYNC_OWNER', `synced_folders group ${said} does not exist in ${machine}.`, {hint: 'Name a group the box has.'});
    default:
      throw new BoxError('ERR_RSYNC_GUEST', `Preparing ${machine} for rsync failed (exit code ${code})${said ? `: ${said}` : ''}.`);
  }
  const resolved: Array<{owner: string; group: string}> = [];
  for (const match of stdout.matchAll(/^owner (\d+) (\S+) (\S+)$/gm)) resolved[Number(match[1])] = {owner: match[2]!, group: match[3]!};
  if (resolved.length !== owners.length || resolved.some((r) => r === undefined)) {
    throw new BoxError('ERR_RSYNC_GUEST', `Preparing ${machine} for rsync gave unexpected output: ${stdout.trim().slice(-300)}`);
  }
  return resolved;
}
