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
