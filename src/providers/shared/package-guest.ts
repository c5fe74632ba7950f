import type {Communicator} from '../../communicators/communicator.js';
import {INSECURE_PUBLIC_KEY} from '../../communicators/insecure-key.js';
import {shellQuote} from '../../communicators/ssh/remote-command.js';
import {BoxError} from '../../core/errors.js';

/**
 * What `box package` undoes in the guest before its disk becomes a box, so the box behaves like
 * any Vagrant base box (Vagrant's rules: user vagrant, Vagrant's insecure public key, sudo
 * without a password), run as root through `sudo -n`:
 *
 * - authorized_keys of the SSH user holds Vagrant's insecure public key only: the machine's own
 *   key (and any other) would open every machine made from the box; `box up` and `vagrant up`
 *   of the box then log in with the insecure key and replace it, as with any base box.
 * - box's no-password drop-in (or the lines it put at the top of sshd_config) goes: it is
 *   box's first-boot work, which the next machine's first `up` does again. The user's password
 *   stays locked (`*`): keys are how Vagrant and box log in.
 * - The machine's identity goes, so machines made from the box do not share it: /etc/machine-id
 *   is emptied (systemd makes a new one at the next boot) and, on systemd guests, the SSH host
 *   keys are removed with a one-shot unit that makes new ones (`ssh-keygen -A`) before sshd
 *   starts. A guest without systemd keeps its host keys (nothing would make new ones).
 *
 * Ends with `sync`: the halt that follows must find everything on disk.
 */
export function resetGuestForPackagingScript(): string {
  const script = `set -e
u=$1
key=$2
home=$(getent passwd "$u" | cut -d: -f6)
[ -n "$home" ] || { echo "box: no user $u" >&2; exit 1; }
mkdir -p "$home/.ssh"
printf '%s\\n' "$key" > "$home/.ssh/authorized_keys"
chown "$u" "$home/.ssh" "$home/.ssh/authorized_keys"
chmod 700 "$home/.ssh"
chmod 600 "$home/.ssh/authorized_keys"
rm -f /etc/ssh/sshd_config.d/01-box-no-passwords.conf
if [ -f /etc/ssh/sshd_config.box-orig ]; then
  cat /etc/ssh/sshd_config.box-orig > /etc/ssh/sshd_config
  rm -f /etc/ssh/sshd_config.box-orig
fi
if [ -f /etc/machine-id ]; then : > /etc/machine-id; fi
rm -f /var/lib/dbus/machine-id
if [ -d /run/systemd/system ] && command -v ssh-keygen >/dev/null 2>&1; then
  unit=/etc/systemd/system/box-ssh-host-keys.service
  printf '%s\\n' '[Unit]' 'Description=Make SSH host keys (removed by box package)' 'ConditionPathExistsGlob=!/etc/ssh/ssh_host_*_key' 'Before=ssh.service sshd.service' '' '[Service]' 'Type=oneshot' "ExecStart=$(command -v ssh-keygen) -A" '' '[Install]' 'WantedBy=multi-user.target' > "$unit"
  mkdir -p /etc/systemd/system/multi-user.target.wants
  ln -sf "$unit" /etc/systemd/system/multi-user.target.wants/box-ssh-host-keys.service
  rm -f /etc/ssh/ssh_host_*
fi
sync`;
  return `sudo -n sh -c ${shellQuote(script)} sh "$(id -un)" ${shellQuote(INSECURE_PUBLIC_KEY)}`;
}

/** Runs resetGuestForPackagingScript over `comm` (logged in with the machine's own key). */
export async function resetGuestForPackaging(comm: Communicator, machine: string, signal: AbortSignal): Promise<void> {
  let output = '';
  const code = await comm.exec(resetGuestForPackagingScript(), {signal, onOutput: (_s, data) => (output += data)});
  if (code !== 0) {
    throw new BoxError('ERR_PACKAGE_GUEST', `Could not put Vagrant's insecure key back in ${machine} (exit code ${code}): ${output.trim().slice(-500)}`, {
      hint: 'The SSH user needs passwordless sudo (Vagrant\'s base box rules). Nothing was packaged.',
    });
  }
}

/**
 * A clone's first login: a machine-id and SSH host keys of its own (it booted with its source's).
 * `/etc/machine-id` is made again (systemd-machine-id-setup: random, the running services keep
 * the old one until the next boot), and the host keys when the guest has them, then sshd
 * restarts (open sessions stay, as for the no-password drop-in). box pins no host keys.
 */
export function newGuestIdentityScript(): string {
  const script = `set -e
if [ -f /etc/machine-id ] && command -v systemd-machine-id-setup >/dev/null 2>&1; then
  rm -f /etc/machine-id /var/lib/dbus/machine-id
  systemd-machine-id-setup >/dev/null 2>&1
fi
if command -v ssh-keygen >/dev/null 2>&1 && ls /etc/ssh/ssh_host_*_key >/dev/null 2>&1; then
  rm -f /etc/ssh/ssh_host_*
  ssh-keygen -A >/dev/null
  systemctl restart ssh 2>/dev/null || systemctl restart sshd 2>/dev/null || kill -HUP $(cat /run/sshd.pid /var/run/sshd.pid 2>/dev/null) 2>/dev/null || true
fi`;
  return `sudo -n sh -c ${shellQuote(script)}`;
}

/** Runs newGuestIdentityScript over `comm`. */
export async function newGuestIdentity(comm: Communicator, machine: string, signal: AbortSignal): Promise<void> {
  let output = '';
  const code = await comm.exec(newGuestIdentityScript(), {signal, onOutput: (_s, data) => (output += data)});
  if (code !== 0) {
    throw new BoxError('ERR_CLONE_IDENTITY', `Could not give the clone ${machine} a machine-id and SSH host keys of its own (exit code ${code}): ${output.trim().slice(-500)}`, {
      hint: 'The SSH user needs passwordless sudo (Vagrant\'s base box rules).',
    });
  }
}
