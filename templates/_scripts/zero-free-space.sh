#!/bin/sh
# Fill free space with zeros and delete the file, so `qemu-img convert -c` (or VBoxManage
# modifymedium --compact) can drop the blocks: for images made by an installer or booted from a
# box. Not needed for debootstrap builds (mkfs.ext4 -d writes only used blocks).
set -u
dd if=/dev/zero of=/EMPTY bs=1M 2>/dev/null || true
rm -f /EMPTY
sync
