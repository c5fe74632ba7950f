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

# Generators systemd runs at every boot (before it starts a single unit) for what a box guest
# has none of: encrypted, integrity or verity volumes, GPT auto-mounts, hibernation, offline
# updates. Masked (a /dev/null link in /etc/systemd/system-generators), the time from systemd's
# start to its first job fell from ~1.7 s to ~1.0 s under TCG. The SysV generator stays (a package
# with only an /etc/init.d script would otherwise never start); it cost ~0.15 s.
install -d /etc/systemd/system-generators
for generator in systemd-cryptsetup-generator systemd-gpt-auto-generator systemd-hibernate-resume-generator \
                 systemd-integritysetup-generator systemd-veritysetup-generator systemd-system-update-generator; do
  ln -sf /dev/null "/etc/systemd/system-generators/$generator"
done

# Early units with nothing to do here: fuse and loop load on first use anyway (their /dev nodes
# are made by kmod-static-nodes), and fsckd only draws fsck progress bars.
for unit in modprobe@fuse.service modprobe@loop.service sys-fs-fuse-connections.mount systemd-fsckd.socket \
            systemd-fsckd.service; do
  ln -sf /dev/null "/etc/systemd/system/$unit"
done

# udev loads a driver for every CPU feature the guest sees; the SIMD crypto ones only speed up
# in-kernel crypto (dm-crypt, IPsec), and the kernel falls back to its generic code without
# them. Under TCG they cost seconds of boot: `modprobe aesni_intel` alone took 2.5 s. Not
# autoloaded any more (an explicit modprobe still loads them; delete this file to restore).
# kvm stays, for nested virtualisation on a KVM host.
cat > /etc/modprobe.d/box-fast-boot.conf <<'CONF'
blacklist aesni_intel
blacklist ghash_clmulni_intel
blacklist sha1_ssse3
blacklist sha256_ssse3
blacklist sha512_ssse3
blacklist crc32_pclmul
blacklist crc32c_intel
blacklist crct10dif_pclmul
blacklist serio_raw
CONF

# udev's coldplug replays an "add" event for every device in sysfs, and under TCG each costs
# milliseconds of rule matching. 84 of the ~236 are the 63 virtual terminals (tty1-tty63) and
# their vcs/vcsa/vcsu screen devices, which a headless guest never opens (getty@tty1 is masked
# above); their rules only set the tty group on the nodes. The coldplug here is Debian's own
# command line, minus those: every other tty (ttyS*, hvc*, tty, tty0, console, ptmx) is still
# replayed, so the serial getty's device unit and the dialout group stay. A VT that is used
# later gets its events as usual. Measured under TCG against the box without it: `up` of a
# halted machine + `halt`, pair ratio 0.93 (median of 6 alternating pairs); a cold `up` +
# `destroy` did not change (1.01, 4 pairs), its first boot's own work dominates.
install -d /etc/systemd/system/systemd-udev-trigger.service.d
cat > /etc/systemd/system/systemd-udev-trigger.service.d/10-box-no-vt-coldplug.conf <<'CONF'
[Service]
ExecStart=
ExecStart=-udevadm trigger --type=subsystems --action=add
ExecStart=-udevadm trigger --type=devices --action=add --prioritized-subsystem=module,block,tpmrm,net,tty,input --subsystem-nomatch=tty --subsystem-nomatch=vc
ExecStart=-udevadm trigger --type=devices --action=add --subsystem-match=tty --sysname-match=tty --sysname-match=tty0 --sysname-match=tty[!0-9]* --sysname-match=[!t]*
CONF

# systemd-logind (with dbus) handles the ACPI power button that `box halt` presses. Ordered
# before sshd, it listens by the time SSH answers and `box up` returns: otherwise an `up` at once
# followed by `halt` could press the button before anyone listened, and halt would wait for
# nothing before falling back to poweroff over SSH (seen when logind ran at a lower priority).
install -d /etc/systemd/system/systemd-logind.service.d
printf '[Unit]\nBefore=ssh.service sshd.service\n' > /etc/systemd/system/systemd-logind.service.d/10-box-before-sshd.conf

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
