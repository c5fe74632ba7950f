#!/bin/sh
# sshd settings for fast, predictable logins in a VM: no reverse DNS lookup of the client
# (slow or hanging on NAT networks), no GSSAPI. Host keys are generated on first boot by
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

cat > /etc/systemd/system/box-regenerate-host-keys.service <<'UNIT'
[Unit]
Description=Generate SSH host keys on first boot (box)
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key
Before=ssh.service sshd.service
DefaultDependencies=no
After=local-fs.target
Requires=local-fs.target

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'rm -f /etc/ssh/ssh_host_*; ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key && ssh-keygen -q -t ecdsa -N "" -f /etc/ssh/ssh_host_ecdsa_key'
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
