#!/bin/sh
# box-first-boot.service: runs what `box up` hands the guest through QEMU's fw_cfg
# (`-fw_cfg name=opt/box/first-boot,file=...`) before sshd starts: the per-machine PUBLIC key
# becomes the SSH user's only key, password logins end, the host name is set, and a line on the
# console tells box so; box then needs no SSH round to replace Vagrant's insecure key.
# Without that fw_cfg entry (another hypervisor, or nothing handed over) it does nothing, and
# box swaps the key over SSH as for any Vagrant box. Needs the qemu_fw_cfg module (Debian's
# kernels build it as a module). The script box hands over is written by box (src/providers/
# shared/guest-scripts.ts firstBootScript), so it always matches the box that booted the guest.
set -eu
install -d /usr/local/sbin
cat > /usr/local/sbin/box-first-boot <<'SCRIPT'
#!/bin/sh
entry=/sys/firmware/qemu_fw_cfg/by_name/opt/box/first-boot/raw
[ -e "$entry" ] || modprobe -q qemu_fw_cfg 2>/dev/null || true
[ -r "$entry" ] || exit 0
script=$(mktemp /run/box-first-boot.XXXXXX)
trap 'rm -f "$script"' EXIT
cat "$entry" > "$script"
sh "$script"
SCRIPT
chmod 755 /usr/local/sbin/box-first-boot

cat > /etc/systemd/system/box-first-boot.service <<'UNIT'
[Unit]
Description=Take the machine key and host name box hands over through fw_cfg (box)
DefaultDependencies=no
# Not after box-regenerate-host-keys.service: the two run side by side (sshd waits for both).
After=local-fs.target systemd-sysusers.service
Before=ssh.service sshd.service systemd-user-sessions.service

[Service]
Type=oneshot
ExecStart=/usr/local/sbin/box-first-boot
StandardOutput=journal+console
StandardError=journal+console
RemainAfterExit=yes

[Install]
WantedBy=multi-user.target
UNIT
# The script box hands over checks sshd's configuration (`sshd -t`) before sshd starts, and that
# check needs a host key while the real ones may still be in the making: this one, made once at
# build time, spares the first boot an ssh-keygen run (~1 s under TCG). It only ever feeds
# `sshd -t -h`; sshd never serves it (sshd.sh names the host keys it uses).
install -d -m 700 /usr/local/lib/box
rm -f /usr/local/lib/box/sshd-check-hostkey /usr/local/lib/box/sshd-check-hostkey.pub
ssh-keygen -q -t ed25519 -N "" -C "box sshd -t check only" -f /usr/local/lib/box/sshd-check-hostkey

install -d /etc/systemd/system/multi-user.target.wants
ln -sf /etc/systemd/system/box-first-boot.service /etc/systemd/system/multi-user.target.wants/box-first-boot.service
