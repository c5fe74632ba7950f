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
  return asRoot(`set -e
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
if ! "$sshd" -t >/dev/null 2>&1; then
  undo
  echo "box: sshd -t refused the no-password settings; sshd_config left as it was" >&2
  exit 0
fi
systemctl restart ssh 2>/dev/null || systemctl restart sshd 2>/dev/null || kill -HUP $(cat /run/sshd.pid /var/run/sshd.pid 2>/dev/null) 2>/dev/null || true`, '"$(id -un)"');
}

/**
 * Sets the guest's host name for good: /etc/hostname (through hostnamectl when the guest has
 * it), the running kernel's name, and the `127.0.1.1 NAME SHORT` line of /etc/hosts (replaced,
 * or added) so the name resolves. `name` is a validated RFC 1123 host name.
 */
export function setHostnameScript(name: string): string {
  return asRoot(`set -e
h=$1
short=\${h%%.*}
if ! { command -v hostnamectl >/dev/null 2>&1 && hostnamectl set-hostname "$h" 2>/dev/null; }; then
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
fi`, shellQuote(name));
}
