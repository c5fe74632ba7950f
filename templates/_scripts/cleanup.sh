#!/bin/sh
# Last script of a build: drop what is re-creatable or machine-specific, so the box is small
# and clones are distinct. SSH host keys and the machine id are regenerated on first boot.
set -eu
export DEBIAN_FRONTEND=noninteractive
# Package caches of every family the templates cover: Debian/Ubuntu, RHEL/Rocky/CentOS, SUSE.
if command -v apt-get >/dev/null 2>&1; then apt-get clean; fi
if command -v dnf >/dev/null 2>&1; then dnf clean all >/dev/null; rm -rf /var/cache/dnf/*; fi
if command -v zypper >/dev/null 2>&1; then zypper --non-interactive clean --all >/dev/null; fi
rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/debconf/*-old /var/lib/dpkg/*-old
rm -rf /tmp/* /var/tmp/*
find /var/log -type f \( -name '*.log' -o -name '*.gz' -o -name '*.[0-9]' \) -delete 2>/dev/null || true
rm -f /etc/ssh/ssh_host_*
# An empty machine-id makes systemd generate a fresh one on first boot.
if [ -e /etc/machine-id ]; then : > /etc/machine-id; fi
if [ -f /var/lib/dbus/machine-id ] && [ ! -L /var/lib/dbus/machine-id ]; then
  rm -f /var/lib/dbus/machine-id && ln -s /etc/machine-id /var/lib/dbus/machine-id
fi
rm -f /root/.bash_history /home/*/.bash_history
