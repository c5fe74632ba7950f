#!/usr/bin/env bash
# Installs the host packages box and its tests need (Debian/Ubuntu, as root or with sudo).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
packages=$(grep -v '^\s*#' "$here/.ci/apt-packages.txt" | grep -v '^\s*$' | tr '\n' ' ')
export DEBIAN_FRONTEND=noninteractive
$sudo_cmd apt-get update -q
# shellcheck disable=SC2086
$sudo_cmd apt-get install -y -q --no-install-recommends $packages

# The aws tests run against moto's EC2 emulator (python3 -m moto.server). Machines of this kind
# ship it in their python3; elsewhere install it from PyPI when reachable, and otherwise stop
# here with the reason rather than fail later inside the test run.
if ! python3 -c 'import moto.server, flask, werkzeug' 2>/dev/null; then
  echo "moto (the local EC2 API the aws tests use) is missing: installing moto[server]==5.2.1 with pip" >&2
  if ! python3 -m pip install --quiet "moto[server]==5.2.1" 2>/dev/null && ! python3 -m pip install --quiet --break-system-packages "moto[server]==5.2.1"; then
    echo "error: could not install moto[server]==5.2.1 (is PyPI reachable?). The aws tests need it: install it into this python3 and run again." >&2
    exit 1
  fi
fi
python3 -c 'import moto; print("moto", moto.__version__, "for the aws tests")' >&2
