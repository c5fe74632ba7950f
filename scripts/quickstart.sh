#!/usr/bin/env bash
# The README's "main job" in one command, on a fresh Debian 12 machine (root or sudo):
# installs host packages and npm dependencies, builds box, bakes the debian-12-minimal box from
# Debian packages if the store does not have it, writes a Boxfile in ./quickstart, boots the VM
# (`box up`) and runs `uname -a` in it over SSH. The VM keeps running; the last lines say how to
# reach and remove it.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
project="${QUICKSTART_DIR:-$repo/quickstart}"
box() { node "$repo/bin/run.js" "$@"; }

step() { printf '\n\033[1m==> %s\033[0m\n' "$*" >&2; }

if ! command -v qemu-system-x86_64 >/dev/null || ! command -v debootstrap >/dev/null; then
  step "installing host packages (apt-get)"
  bash "$repo/scripts/setup-host.sh"
fi
if [ ! -d "$repo/node_modules" ]; then
  step "installing npm dependencies"
  (cd "$repo" && npm ci --no-audit --no-fund)
fi
step "building box"
(cd "$repo" && npm run --silent build >/dev/null)

step "box doctor"
box doctor

if ! box box list --json | grep -q '"name": "debian-12-minimal"'; then
  step "baking the debian-12-minimal box from Debian packages (about 2-4 minutes)"
  box build debian-12-minimal --output "$repo/output/debian-12-minimal" --add
fi

mkdir -p "$project"
cd "$project"
if [ ! -f Boxfile ]; then
  step "writing $project/Boxfile"
  box init --basebox debian-12-minimal --target qemu
fi
box validate

step "box up (under software emulation this takes about half a minute)"
box up
step "box ssh -c 'uname -a'"
box ssh -c 'uname -a'

cat >&2 <<EOT

The VM is running. From $project:
  box status          # what is running
  box ssh             # an interactive shell
  box halt            # stop it (the disk is kept)
  box destroy --force # remove it
EOT
