import {shellQuote} from '../../communicators/ssh/remote-command.js';

/**
 * Shell scripts box runs in Linux guests at `up`, as the SSH user (they use `sudo -n` for what
 * needs root, as Vagrant's base box rules allow). POSIX sh, idempotent, for Debian, Ubuntu,
 * RHEL-likes and SUSE alike.
 */

/** Runs `script` as root without a password prompt; `words` (shell words, quoted) become $1... */
function asRoot(script: string, words: string): string {
  return `sudo -n sh -c ${shellQuote(script)} sh ${words}`;
}

/**
 * Ends password logins once the per-machine key is in: the box's well-known password
 * (vagrant/vagrant) would otherwise still open the guest, with sudo, to anyone who can reach its
 * forwarded SSH port (every local user: it listens on 127.0.0.1).
 *
 * - The SSH user's password becomes `*`, which no password matches (su, console and SSH
 *   passwords fail; keys and its NOPASSWD sudo keep working). Not `passwd -l`'s `!`: sshd
 *   without PAM refuses even key logins to an account locked that way.
 * - sshd accepts no passwords from anyone (the box's root may have a known password too):
 *   `PasswordAuthentication no` and `KbdInteractiveAuthentication no` in a drop-in read first
 *   (sshd keeps the first value it reads), or at the top of sshd_config where there is no
 *   sshd_config.d. Kept only if `sshd -t` accepts it; then sshd restarts. Not a reload: a
 *   reloading sshd closes its listening socket while it re-executes, and a login right after
 *   `up` was refused (ECONNRESET under TCG); the units are Type=notify on Debian, Ubuntu and
 *   RHEL, so `systemctl restart` returns once the new sshd listens, and KillMode=process keeps
 *   open sessions, this one included.
 */
export function lockPasswordLoginsScript(): string {
  return asRoot(noPasswordLoginsBody({restartSshd: true, sshdTest: '-t'}), '"$(id -un)"');
}

/**
 * The root script behind lockPasswordLoginsScript, with the user name as $1. For
 * box-first-boot.service, which runs before sshd starts and before its host keys exist: no
 * restart (it would wait for that very unit), and `sshdTest` checks the settings with a
 * throwaway host key (`sshd -t` refuses to check without one).
 */
function noPasswordLoginsBody(options: {restartSshd: boolean; sshdTest: string}): string {
  return `set -e
u=$1
if command -v usermod >/dev/null 2>&1; then usermod -p '*' "$u"; else passwd -l "$u" >/dev/null; fi
conf=/etc/ssh/sshd_config
[ -f "$conf" ] || exit 0
mark='# box: no password logins (set by box up)'
settings='PasswordAuthentication no
KbdInteractiveAuthentication no'
if grep -qiE '^[[:space:]]*Include[[:space:]]+/etc/ssh/sshd_config\\.d/' "$conf"; then
  drop=/etc/ssh/sshd_config.d/01-box-no-passwords.conf
  [ -f "$drop" ] && exit 0
  printf '%s\\n%s\\n' "$mark" "$settings" > "$drop"
  undo() { rm -f "$drop"; }
else
  grep -qxF "$mark" "$conf" && exit 0
  cp -p "$conf" "$conf.box-orig"
  { printf '%s\\n%s\\n' "$mark" "$settings"; cat "$conf.box-orig"; } > "$conf"
  undo() { cat "$conf.box-orig" > "$conf"; }
fi
sshd=$(command -v sshd || echo /usr/sbin/sshd)
if ! "$sshd" ${options.sshdTest} >/dev/null 2>&1; then
  undo
  echo "box: sshd -t refused the no-password settings; sshd_config left as it was" >&2
  exit 0
fi
${options.restartSshd ? 'systemctl restart ssh 2>/dev/null || systemctl restart sshd 2>/dev/null || kill -HUP $(cat /run/sshd.pid /var/run/sshd.pid 2>/dev/null) 2>/dev/null || true' : 'true'}`;
}

/**
 * Sets the guest's host name for good: /etc/hostname (through hostnamectl when the guest has
 * it), the running kernel's name, and the `127.0.1.1 NAME SHORT` line of /etc/hosts (replaced,
 * or added) so the name resolves. `name` is a validated RFC 1123 host name.
 */
export function setHostnameScript(name: string): string {
  return asRoot(hostnameBody({hostnamectl: true}), shellQuote(name));
}

/**
 * The root script behind setHostnameScript, with the name as $1. Without `hostnamectl` (before
 * dbus runs, in box-first-boot.service) it writes /etc/hostname and sets the kernel's name itself.
 */
function hostnameBody(options: {hostnamectl: boolean}): string {
  return `set -e
h=$1
short=\${h%%.*}
if ! { ${options.hostnamectl ? '' : 'false && '}command -v hostnamectl >/dev/null 2>&1 && hostnamectl set-hostname "$h" 2>/dev/null; }; then
  printf '%s\\n' "$h" > /etc/hostname
  hostname "$h" 2>/dev/null || printf '%s' "$h" > /proc/sys/kernel/hostname
fi
line="127.0.1.1	$h"
[ "$short" = "$h" ] || line="$line $short"
if grep -q '^127\\.0\\.1\\.1[[:space:]]' /etc/hosts; then
  tmp=$(mktemp /etc/hosts.box-XXXXXX)
  sed "s/^127\\.0\\.1\\.1[[:space:]].*/$line/" /etc/hosts > "$tmp"
  cat "$tmp" > /etc/hosts
  rm -f "$tmp"
else
  printf '%s\\n' "$line" >> /etc/hosts
fi`;
}

/** The key a box-built guest keeps for first boot's `sshd -t` (made by templates/_scripts/first-boot.sh). */
export const SSHD_CHECK_HOSTKEY = '/usr/local/lib/box/sshd-check-hostkey';

/** Where first boot's `sshd -t` finds its host key: a link to SSHD_CHECK_HOSTKEY, or a throwaway key. */
const FIRST_BOOT_CHECK_HOSTKEY = '/run/box-first-boot-hostkey';

/** The fw_cfg entry box-first-boot.service runs (templates/_scripts/first-boot.sh). */
export const FIRST_BOOT_FW_CFG = 'opt/box/first-boot';

/**
 * What box hands a box-built guest through QEMU's fw_cfg before it boots, run as root by
 * box-first-boot.service before sshd starts: the per-machine PUBLIC key becomes the SSH user's
 * only key (Vagrant's insecure key is gone before anyone can use it), password logins end (the
 * same settings as lockPasswordLoginsScript), the host name is set when given, and the console
 * hears `guestKeyLine(nonce)`, which tells box the guest took it (so no SSH round is needed).
 * A guest without cloud-init says so first (`noCloudInitLine`): box then has nothing to ask.
 */
export function firstBootScript(options: {username: string; publicKey: string; hostname?: string; nonce: string; doneLine: string; noCloudInitLine: string}): string {
  const sub = (body: string, words: string) => `sh -c ${shellQuote(body)} sh ${words}`;
  return [
    '#!/bin/sh',
    '# Written by box up: handed to the guest through QEMU fw_cfg, run by box-first-boot.service.',
    'set -e',
    `u=${shellQuote(options.username)}`,
    'home=$(getent passwd "$u" | cut -d: -f6)',
    '[ -n "$home" ] || { echo "box-first-boot: no user $u" >&2; exit 1; }',
    'install -d -m 700 -o "$u" -g "$(id -gn "$u")" "$home/.ssh"',
    'tmp=$(mktemp "$home/.ssh/authorized_keys.box-XXXXXX")',
    `printf '%s\\n' ${shellQuote(options.publicKey.trim())} > "$tmp"`,
    'chown "$u:$(id -gn "$u")" "$tmp"',
    'chmod 600 "$tmp"',
    'sync "$tmp"',
    'mv -f "$tmp" "$home/.ssh/authorized_keys"',
    // `sshd -t` (in the password lock) needs the privilege separation folder the ssh unit makes
    // as it starts, and a host key other than the real ones, which may still be in the making:
    // the one the box's build made for this check (templates/_scripts/first-boot.sh), or, in a
    // box built before it did, a throwaway one (an ssh-keygen run on the way to sshd).
    'install -d -m 755 /run/sshd',
    `hostkey=${FIRST_BOOT_CHECK_HOSTKEY}`,
    'rm -f "$hostkey" "$hostkey.pub"',
    `if [ -s ${SSHD_CHECK_HOSTKEY} ]; then ln -s ${SSHD_CHECK_HOSTKEY} "$hostkey"; else ssh-keygen -q -t ed25519 -N "" -f "$hostkey" >/dev/null; fi`,
    sub(noPasswordLoginsBody({restartSshd: false, sshdTest: `-t -h ${FIRST_BOOT_CHECK_HOSTKEY}`}), '"$u"'),
    'rm -f "$hostkey" "$hostkey.pub"',
    ...(options.hostname ? [sub(hostnameBody({hostnamectl: false}), shellQuote(options.hostname))] : []),
    `command -v cloud-init >/dev/null 2>&1 || echo ${shellQuote(options.noCloudInitLine)}`,
    `echo ${shellQuote(options.doneLine)}`,
    '',
  ].join('\n');
}
