#!/bin/sh
# cloud-init set up for box's guests (measured under TCG, see docs/qemu.md):
# - datasources: NoCloud (box's cidata CD on qemu and virtualbox) and Ec2 (an AMI made from the
#   box). Ec2 is strict: without EC2's DMI signature ds-identify rules it out instead of
#   "maybe", so a boot with no seed disables cloud-init for that boot (no metadata-server
#   timeouts, ~1 s of ds-identify) instead of probing 169.254.169.254.
# - the default user is the box's vagrant user, never locked, sudo without password (an EC2 key
#   pair's key is added to it); Debian's "debian" user is not made.
# - SSH host keys stay box's business (box-regenerate-host-keys.service): cloud-init neither
#   deletes nor makes them (an RSA key took ~40 s under TCG).
# - /etc/hosts gets a 127.0.1.1 line for the host name cloud-init sets from meta-data
#   (local-hostname: the machine name), or sudo warns "unable to resolve host" at every call.
# - no locale generation (slow under TCG; C.UTF-8 is built in), apt's sources.list kept.
set -eu
install -d /etc/cloud/cloud.cfg.d
cat > /etc/cloud/cloud.cfg.d/90-box.cfg <<'CONF'
# Written by box's debian-12-cloud template (scripts/cloud-init.sh says why).
datasource_list: [NoCloud, Ec2, None]
datasource:
  Ec2:
    strict_id: true
system_info:
  default_user:
    name: vagrant
    lock_passwd: false
    gecos: vagrant
    groups: []
    sudo: ["ALL=(ALL) NOPASSWD:ALL"]
    shell: /bin/bash
manage_etc_hosts: localhost
ssh_deletekeys: false
ssh_genkeytypes: []
locale: false
apt:
  preserve_sources_list: true
CONF
# cloud-init's own package state from the build is not the guest's: it starts fresh on first boot.
cloud-init clean --logs >/dev/null 2>&1 || rm -rf /var/lib/cloud/* /var/log/cloud-init*.log
