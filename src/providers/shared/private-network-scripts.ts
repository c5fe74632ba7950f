import {shellQuote} from '../../communicators/ssh/remote-command.js';

/**
 * Guest scripts of the private network (POSIX sh, run as root, idempotent): the second
 * interface's static address, kept across reboots, and box's block of /etc/hosts.
 */

/**
 * Gives the interface with MAC $1 the address $2 (CIDR) for good, matched by MAC rather than by
 * name (names depend on the bus and on net.ifnames). systemd-networkd: a .network file that
 * sorts before every other (networkd uses the first file that matches), then a reload; ifupdown:
 * a stanza in interfaces.d under the name the MAC has now. Returns once the address is up.
 */
export const configureInterfaceScript = `mac=$1 addr=$2
dev=
for d in /sys/class/net/*; do
  [ "$(cat "$d/address" 2>/dev/null)" = "$mac" ] && dev=\${d##*/} && break
done
[ -n "$dev" ] || { echo "box: no network interface has the MAC address $mac" >&2; exit 3; }
write() { # file content: replaced only when it changes
  if [ "$(cat "$1" 2>/dev/null)" != "$2" ]; then printf '%s\\n' "$2" > "$1.box-new" && mv "$1.box-new" "$1"; fi
}
if [ -d /run/systemd/netif ] || systemctl is-enabled systemd-networkd >/dev/null 2>&1; then
  install -d /etc/systemd/network
  write /etc/systemd/network/05-box-private.network "# box's private network (written by box up; box rewrites it)
[Match]
MACAddress=$mac

[Network]
Address=$addr
LinkLocalAddressing=no
IPv6AcceptRA=no"
  systemctl is-active systemd-networkd >/dev/null 2>&1 || systemctl start systemd-networkd
  networkctl reload
  networkctl reconfigure "$dev"
elif [ -d /etc/network/interfaces.d ] && command -v ifup >/dev/null 2>&1; then
  grep -qE '^[[:space:]]*(source|source-directory)[[:space:]]+/etc/network/interfaces\\.d' /etc/network/interfaces 2>/dev/null \\
    || printf '\\nsource /etc/network/interfaces.d/*\\n' >> /etc/network/interfaces
  ifdown "$dev" >/dev/null 2>&1 || true
  write /etc/network/interfaces.d/box-private "# box's private network (written by box up; box rewrites it)
auto $dev
iface $dev inet static
    address $addr"
  ifup "$dev"
else
  echo "box: the guest has neither systemd-networkd nor ifupdown; box cannot configure its private network interface" >&2
  exit 4
fi
i=0
until ip -4 -o addr show dev "$dev" | grep -q " $addr "; do
  i=$((i + 1))
  [ $i -lt 100 ] || { echo "box: $dev did not get the address $addr" >&2; exit 5; }
  sleep 0.1
done`;

export const HOSTS_BEGIN = '# BEGIN box private network (box rewrites this block on every up)';
export const HOSTS_END = '# END box private network';

/**
 * Replaces box's block of the hosts file $2 (/etc/hosts) with $1 (lines "ADDRESS NAME..."), or appends it; the rest
 * of the file is kept as it is. Written in place (not renamed over), so a bind-mounted hosts
 * file works too; left alone when nothing changed.
 */
export const hostsBlockScript = `f=$2
new=$( (awk -v b=${shellQuote(HOSTS_BEGIN)} -v e=${shellQuote(HOSTS_END)} '$0 == b {skip = 1; next} $0 == e {skip = 0; next} !skip' "$f"; printf '%s\\n%s\\n%s\\n' ${shellQuote(HOSTS_BEGIN)} "$1" ${shellQuote(HOSTS_END)}) )
[ "$new" = "$(cat "$f")" ] || printf '%s\\n' "$new" > "$f"`;

