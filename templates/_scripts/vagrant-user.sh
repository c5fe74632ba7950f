#!/bin/sh
# Vagrant's base box conventions: a "vagrant" user (password "vagrant") with passwordless sudo
# and Vagrant's public insecure key, so any Vagrant-compatible tool can log in on first boot
# (box, like Vagrant, then replaces the key with a per-machine one).
# Runs as root, in a chroot (debootstrap builds) or over SSH (installer and box builds).
set -eu
VAGRANT_USER="${VAGRANT_USER:-vagrant}"
# Vagrant's insecure public key (keys/vagrant.pub of Debian's vagrant 2.3.4 package).
INSECURE_KEY='ssh-rsa AAAAB3NzaC1yc2EAAAABIwAAAQEA6NF8iallvQVp22WDkTkyrtvp9eWW6A8YVr+kz4TjGYe7gHzIw+niNltGEFHzD8+v1I2YJ6oXevct1YeS0o9HZyN1Q9qgCgzUFtdOKLv6IedplqoPkcmF0aYet2PkEDo3MlTBckFXPITAMzF8dJSIFo9D8HfdOV0IAdx4O7PtixWKn5y2hMNG0zQPyUecp4pzC6kivAIhyfHilFR61RGL+GPXQ2MWZWFYbAGjyiYJnAmCP3NOTd0jMZEnDkbUvxhMmBYSdETk1rRgm+R4LOzFUGaHqHDLKLX+FIPKcF96hrucXzcWyLbIbEgE98OHlnVYCzRdK8jlqm8tehUc9c9WhQ== vagrant insecure public key'

if ! id "$VAGRANT_USER" >/dev/null 2>&1; then
  useradd --create-home --shell /bin/bash --user-group "$VAGRANT_USER"
fi
echo "$VAGRANT_USER:vagrant" | chpasswd
home=$(getent passwd "$VAGRANT_USER" | cut -d: -f6)
install -d -m 700 -o "$VAGRANT_USER" -g "$VAGRANT_USER" "$home/.ssh"
printf '%s\n' "$INSECURE_KEY" > "$home/.ssh/authorized_keys"
chown "$VAGRANT_USER:$VAGRANT_USER" "$home/.ssh/authorized_keys"
chmod 600 "$home/.ssh/authorized_keys"

install -d -m 750 /etc/sudoers.d
printf 'Defaults:%s !requiretty\n%s ALL=(ALL) NOPASSWD: ALL\n' "$VAGRANT_USER" "$VAGRANT_USER" > /etc/sudoers.d/vagrant
chmod 440 /etc/sudoers.d/vagrant
if command -v visudo >/dev/null 2>&1; then visudo -cf /etc/sudoers.d/vagrant >/dev/null; fi
