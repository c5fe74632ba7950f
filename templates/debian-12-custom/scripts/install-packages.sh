#!/bin/sh
# Installs $PACKAGES from the guest's Debian mirror (the source box's cleanup emptied the apt
# lists, so they are fetched first). Recommends stay out, as in the source box.
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086 # a space-separated list on purpose
apt-get install -y -q --no-install-recommends $PACKAGES
for p in $PACKAGES; do dpkg -s "$p" >/dev/null; done
echo "installed: $PACKAGES"
