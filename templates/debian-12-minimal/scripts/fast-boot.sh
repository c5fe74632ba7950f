#!/bin/sh
# Settings that make this minimal guest boot and answer SSH fast under software emulation
# (measured: see /docs/build.md): DHCP through systemd-networkd (no ifupdown), no waiting for
# "network online", DNS fixed to QEMU user networking's resolver, periodic jobs off.
set -eu

# DHCP on every wired interface, whatever its predictable name.
install -d /etc/systemd/network
cat > /etc/systemd/network/80-box-dhcp.network <<'CONF'
[Match]
Name=en* eth*

[Network]
DHCP=ipv4
IPv6AcceptRA=no
LinkLocalAddressing=no

[DHCPv4]
UseDomains=yes
CONF
install -d /etc/systemd/system/multi-user.target.wants /etc/systemd/system/sockets.target.wants /etc/systemd/system/network-online.target.wants
ln -sf /lib/systemd/system/systemd-networkd.service /etc/systemd/system/multi-user.target.wants/systemd-networkd.service
ln -sf /lib/systemd/system/systemd-networkd.socket /etc/systemd/system/sockets.target.wants/systemd-networkd.socket

# Nothing waits for "network online" (a few seconds under TCG); sshd does not need it.
# Periodic jobs would compete with the user's first commands for the CPU.
for unit in systemd-networkd-wait-online.service apt-daily.timer apt-daily-upgrade.timer apt-daily.service \
            apt-daily-upgrade.service fstrim.timer e2scrub_all.timer e2scrub_reap.service dpkg-db-backup.timer \
            systemd-pstore.service; do
  ln -sf /dev/null "/etc/systemd/system/$unit"
done
rm -f /etc/systemd/system/timers.target.wants/apt-daily.timer /etc/systemd/system/timers.target.wants/apt-daily-upgrade.timer \
      /etc/systemd/system/timers.target.wants/fstrim.timer /etc/systemd/system/timers.target.wants/e2scrub_all.timer \
      /etc/systemd/system/timers.target.wants/dpkg-db-backup.timer /etc/systemd/system/multi-user.target.wants/e2scrub_reap.service \
      /etc/systemd/system/sysinit.target.wants/systemd-pstore.service

# Units a headless JEOS guest has no use for: debug/trace/config/hugepage file systems, binfmt,
# the drm and device-mapper module loads (the latter loads on first use anyway), and the getty on
# the screen nobody sees (the serial console keeps its own). Under TCG they compete with the units
# sshd waits for: with them masked (`systemd.mask=` on the kernel command line) a bare QEMU boot
# reached the SSH banner first in 4 of 5 alternating pairs (median 30.0 s vs 36.3 s, load 10-12).
for unit in dev-hugepages.mount sys-kernel-debug.mount sys-kernel-tracing.mount sys-kernel-config.mount \
            systemd-binfmt.service proc-sys-fs-binfmt_misc.automount modprobe@drm.service modprobe@dm_mod.service \
            getty@tty1.service; do
  ln -sf /dev/null "/etc/systemd/system/$unit"
done

# QEMU (and VirtualBox NAT) user networking answers DNS at 10.0.2.3; no resolver daemon needed.
rm -f /etc/resolv.conf
printf 'nameserver %s\n' "${BOX_DNS:-10.0.2.3}" > /etc/resolv.conf

# The ACPI power button (QMP system_powerdown) is handled by systemd-logind, which needs dbus
# and the button driver; make sure both load early.
install -d /etc/modules-load.d
printf 'button\nevdev\n' > /etc/modules-load.d/box-acpi.conf

# Short timeouts: a hung unit must not hold up boot or shutdown for 90 s.
install -d /etc/systemd/system.conf.d
printf '[Manager]\nDefaultTimeoutStartSec=30s\nDefaultTimeoutStopSec=10s\n' > /etc/systemd/system.conf.d/10-box.conf

# sshd checks its configuration itself when it starts; Debian's unit runs `sshd -t` first, a
# second start of the binary (about a second under TCG) on the way to the SSH banner.
install -d /etc/systemd/system/ssh.service.d
printf '[Service]\nExecStartPre=\n' > /etc/systemd/system/ssh.service.d/10-box-no-pre-check.conf
