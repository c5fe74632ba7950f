#!/bin/sh
# sshd settings for fast, predictable logins in a VM: no reverse DNS lookup of the client
# (slow or hanging on NAT networks), no GSSAPI. Host keys are made at boot by
# box-regenerate-host-keys.service, so clones of one image never share them. Only ed25519 and
# ecdsa: an RSA-3072 host key took ~40 s to generate under software emulation (TCG).
# The unit is ssh.service on Debian and Ubuntu, sshd.service on RHEL, Rocky, CentOS and SUSE:
# both are named (systemd ignores ordering against a unit that does not exist).
set -eu
install -d /etc/ssh/sshd_config.d
cat > /etc/ssh/sshd_config.d/10-box.conf <<'CONF'
UseDNS no
GSSAPIAuthentication no
PubkeyAuthentication yes
HostKey /etc/ssh/ssh_host_ed25519_key
HostKey /etc/ssh/ssh_host_ecdsa_key
CONF

# The check runs at EVERY boot, not only the first: a hard stop (power cut, kill -9 of QEMU)
# during the first boot once left every host key at 0 bytes (written, not yet on disk), and
# sshd then refused to start on every later boot. A key pair is kept only when both halves
# look whole (the private key from its BEGIN line to its END line, the public one a "type
# AAAA..." line); anything else, including leftovers of types sshd is not told to use, is
# removed and the two used types are made again, written under a temporary name and synced
# before they take the real one.
install -d /usr/local/sbin
cat > /usr/local/sbin/box-host-keys <<'SCRIPT'
#!/bin/sh
set -u
# The folder is an argument so the logic can be tried on a copy (box's tests do).
dir=${1:-/etc/ssh}
# Shell builtins only: this runs before sshd at every boot, and each ssh-keygen it ran cost ~3 s
# under TCG (four of them were half the time to sshd). Keys are written whole (temp name, sync,
# rename), so what a hard stop can leave is an empty, cut or zero-filled file, which fails this.
valid() {
  [ -s "$1" ] && [ -s "$1.pub" ] || return 1
  first= last=
  while IFS= read -r line || [ -n "$line" ]; do
    [ -n "$first" ] || first=$line
    last=$line
  done < "$1"
  case $first in -----BEGIN\ *PRIVATE\ KEY-----) ;; *) return 1 ;; esac
  case $last in -----END\ *PRIVATE\ KEY-----) ;; *) return 1 ;; esac
  read -r kind blob rest < "$1.pub" || [ -n "$blob" ] || return 1
  case $kind in ssh-*|ecdsa-sha2-*|sk-*) ;; *) return 1 ;; esac
  case $blob in AAAA*) ;; *) return 1 ;; esac
}
for key in "$dir"/ssh_host_*_key "$dir"/ssh_host_*_key.pub; do
  [ -e "$key" ] || continue
  key=${key%.pub}
  valid "$key" || rm -f "$key" "$key.pub"
done
made=
for type in ed25519 ecdsa; do
  key=$dir/ssh_host_${type}_key
  [ -e "$key" ] && continue
  rm -f "$key.box-new" "$key.box-new.pub"
  ssh-keygen -q -t "$type" -N "" -f "$key.box-new" || exit 1
  made="$made $type"
done
[ -n "$made" ] || exit 0
sync
for type in $made; do
  key=$dir/ssh_host_${type}_key
  mv -f "$key.box-new.pub" "$key.pub" && mv -f "$key.box-new" "$key" || exit 1
done
sync
echo "box-host-keys: made new SSH host keys:$made"
SCRIPT
chmod 755 /usr/local/sbin/box-host-keys

cat > /etc/systemd/system/box-regenerate-host-keys.service <<'UNIT'
[Unit]
Description=Check the SSH host keys and make missing or damaged ones (box)
Before=ssh.service sshd.service
DefaultDependencies=no
After=local-fs.target
Requires=local-fs.target

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/box-host-keys
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
RequiredBy=ssh.service sshd.service
UNIT
install -d /etc/systemd/system/multi-user.target.wants
ln -sf /etc/systemd/system/box-regenerate-host-keys.service /etc/systemd/system/multi-user.target.wants/box-regenerate-host-keys.service
for unit in ssh.service sshd.service; do
  if [ -e "/lib/systemd/system/$unit" ] || [ -e "/usr/lib/systemd/system/$unit" ]; then
    install -d "/etc/systemd/system/$unit.requires"
    ln -sf /etc/systemd/system/box-regenerate-host-keys.service "/etc/systemd/system/$unit.requires/box-regenerate-host-keys.service"
  fi
done
