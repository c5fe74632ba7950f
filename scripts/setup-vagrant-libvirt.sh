#!/usr/bin/env bash
# Developer tool (never run by CI): makes Vagrant + vagrant-libvirt usable on this machine so
# `npm run bench -- --against vagrant` can compare box with its peer. Debian/Ubuntu, as root.
#
#   scripts/setup-vagrant-libvirt.sh [start]   install what is missing, start the daemons
#   scripts/setup-vagrant-libvirt.sh status    what is installed / running, nothing changed
#   scripts/setup-vagrant-libvirt.sh stop      stop the daemons it started, delete its netns
#   scripts/setup-vagrant-libvirt.sh remove    stop, then undo everything it did: the storage
#                                              pool it defined, the packages it installed
#
# No systemd here: virtlogd and libvirtd are started as plain daemons (`-d`) inside a network
# namespace of their own (default `box-peer`, BOX_PEER_NETNS overrides). libvirt's bridges,
# dnsmasq and NAT rules then live in that namespace, which has nothing but loopback and those
# bridges: guests can reach this namespace only, never the host's network or beyond. Vagrant has
# to run in the same namespace to reach its guests' addresses (the bench does that itself):
#   ip netns exec box-peer vagrant up --provider libvirt
# Everything it does is idempotent and printed as "changed:" or "ok:" lines. What it installed
# and created is recorded in $STATE_DIR so that `remove` undoes exactly that and nothing else.
set -euo pipefail

NS="${BOX_PEER_NETNS:-box-peer}"
STATE_DIR="${BOX_PEER_STATE_DIR:-/var/lib/box-peer-setup}"
LOG_DIR="/var/log/libvirt"
POOL_DIR="/var/lib/libvirt/images"
# vagrant-libvirt needs: the Vagrant plugin, libvirtd with its QEMU driver and network config,
# virsh, dnsmasq (the DHCP server through which vagrant-libvirt learns a guest's address) and
# iptables (libvirt's NAT rules). The sysv flavour: this machine has no systemd.
PACKAGES=(vagrant vagrant-libvirt libvirt-daemon libvirt-daemon-driver-qemu libvirt-daemon-system
  libvirt-daemon-system-sysv libvirt-clients qemu-system-x86 qemu-utils dnsmasq-base iptables iproute2)

say() { printf '%s\n' "$*"; }
changed() { say "changed: $*"; }
ok() { say "ok: $*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (it installs packages and starts libvirtd)"

# pid of a daemon from its pid file, if that process is alive and is that daemon.
daemon_pid() {
  local name=$1 pidfile=/run/$1.pid pid
  [ -r "$pidfile" ] || return 1
  pid=$(cat "$pidfile")
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
  [ "$(basename "$(readlink "/proc/$pid/exe" 2>/dev/null)")" = "$name" ] || return 1
  printf '%s' "$pid"
}

in_our_netns() { [ "$(ip netns identify "$1" 2>/dev/null)" = "$NS" ]; }

missing_packages() {
  local p
  for p in "${PACKAGES[@]}"; do
    [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = 'install ok installed' ] || printf '%s\n' "$p"
  done
}

install_packages() {
  local missing
  mapfile -t missing < <(missing_packages)
  if [ "${#missing[@]}" -eq 0 ]; then ok "packages already installed (${PACKAGES[*]})"; return; fi
  # Debian's maintainer scripts would start libvirtd in the host's network namespace; a
  # policy-rc.d that says "no" (exit 101) stops that. Only while installing, and only if none exists.
  local policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  # Recommends left out on purpose: nfs-kernel-server and libguestfs-tools are large and unused.
  apt-get install -y -q --no-install-recommends "${missing[@]}"
  mkdir -p "$STATE_DIR"
  printf '%s\n' "${missing[@]}" >>"$STATE_DIR/installed-packages"
  changed "installed ${missing[*]} (recorded in $STATE_DIR/installed-packages)"
}

ensure_netns() {
  if netns_exists; then ok "network namespace $NS exists"
  else ip netns add "$NS"; changed "created network namespace $NS (loopback only)"; fi
  ip -n "$NS" link set lo up
  check_isolated
}

# The namespace must have no way out: no default route and no interface but loopback, libvirt's
# bridges and the guests' tap devices on them (a veth or a physical NIC moved in would be one).
check_isolated() {
  local route links
  route=$(ip -n "$NS" route show default)
  [ -z "$route" ] || die "network namespace $NS has a default route ($route): guests' traffic could leave this machine"
  links=$(ip -n "$NS" -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -Ev '^(lo|virbr[0-9]+(-nic)?|vnet[0-9]+)$' || true)
  [ -z "$links" ] || die "network namespace $NS has interfaces other than loopback and libvirt's ($(echo $links)): guests' traffic could leave this machine"
  ok "network namespace $NS has no route out (interfaces: $(ip -n "$NS" -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | tr '\n' ' '))"
}

start_daemon() {
  local name=$1 pid
  if pid=$(daemon_pid "$name"); then
    in_our_netns "$pid" || die "$name already runs (pid $pid) outside network namespace $NS; stop it first (kill $pid), this script does not touch daemons it did not start"
    ok "$name runs (pid $pid) in $NS"; return
  fi
  mkdir -p "$LOG_DIR"
  # Logs to files: without systemd there is no journal to read them from.
  ip netns exec "$NS" env LIBVIRT_LOG_OUTPUTS="3:file:$LOG_DIR/$name.log" "$name" -d
  for _ in $(seq 50); do pid=$(daemon_pid "$name") && break; sleep 0.1; done
  [ -n "${pid:-}" ] || die "$name did not start; see $LOG_DIR/$name.log"
  printf '%s\n' "$pid" >"$STATE_DIR/$name.pid"
  changed "started $name (pid $pid) in network namespace $NS, log $LOG_DIR/$name.log"
}

wait_for_libvirtd() {
  # Its first start probes QEMU's capabilities: 10-15 s on a busy 2-core machine.
  for _ in $(seq 600); do virsh -c qemu:///system version >/dev/null 2>&1 && return; sleep 0.1; done
  die "libvirtd does not answer on qemu:///system; see $LOG_DIR/libvirtd.log"
}

# vagrant-libvirt keeps box images and machine disks in the pool `default`; defining it here (not
# letting vagrant-libvirt do it on first up) keeps that one persistent change in this script.
# Tests on captured output, not `cmd | grep -q`: with pipefail, grep quitting early makes the
# writer die of SIGPIPE and the whole test false.
pool_running() { [[ "$(virsh -c qemu:///system pool-info default 2>/dev/null)" =~ State:\ +running ]]; }
netns_exists() { [ -e "/run/netns/$NS" ]; }

ensure_pool() {
  if virsh -c qemu:///system pool-info default >/dev/null 2>&1; then ok "storage pool default exists"
  else
    mkdir -p "$POOL_DIR"
    virsh -c qemu:///system pool-define-as default dir --target "$POOL_DIR" >/dev/null
    touch "$STATE_DIR/defined-pool-default"
    changed "defined storage pool default at $POOL_DIR"
  fi
  # libvirtd may be activating the pool itself right now: "already active" counts as success.
  if pool_running; then ok "storage pool default is active"
  elif virsh -c qemu:///system pool-start default >/dev/null 2>&1 || pool_running; then changed "started storage pool default"
  else die "storage pool default does not start: virsh -c qemu:///system pool-start default"; fi
}

stop_daemon() {
  local name=$1 pid
  if ! pid=$(daemon_pid "$name"); then ok "$name is not running"; rm -f "$STATE_DIR/$name.pid"; return; fi
  if ! in_our_netns "$pid"; then say "skipped: $name (pid $pid) runs outside $NS; not started by this script, left alone"; return; fi
  kill "$pid"
  for _ in $(seq 100); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
  [ -d "/proc/$pid" ] && die "$name (pid $pid) did not stop after SIGTERM"
  rm -f "$STATE_DIR/$name.pid"
  changed "stopped $name (pid $pid)"
}

cmd_start() {
  mkdir -p "$STATE_DIR"
  install_packages
  ensure_netns
  start_daemon virtlogd
  start_daemon libvirtd
  wait_for_libvirtd
  ensure_pool
  say "ready: vagrant $(vagrant --version 2>/dev/null | awk '{print $2}'), libvirtd $(libvirtd --version | awk '{print $NF}') in netns $NS"
  say "stop with: $0 stop    undo everything with: $0 remove"
}

cmd_status() {
  local p missing pid
  missing=$(missing_packages | tr '\n' ' ')
  [ -z "$missing" ] && say "packages: all installed" || say "packages missing: $missing"
  if netns_exists; then say "netns $NS: present, default route: $(ip -n "$NS" route show default | grep . || echo none)"; else say "netns $NS: absent"; fi
  for p in virtlogd libvirtd; do
    if pid=$(daemon_pid "$p"); then say "$p: running, pid $pid, netns $(ip netns identify "$pid" 2>/dev/null || echo '(host)')"
    else say "$p: not running"; fi
  done
  if daemon_pid libvirtd >/dev/null; then
    say "domains: $(virsh -c qemu:///system list --all --name | grep -c . || true), volumes in pool default: $(virsh -c qemu:///system vol-list default 2>/dev/null | tail -n +3 | grep -c . || true)"
  fi
}

cmd_stop() {
  local running
  if pid=$(daemon_pid libvirtd) && in_our_netns "$pid"; then
    running=$(virsh -c qemu:///system list --name | grep -c . || true)
    [ "$running" -eq 0 ] || say "warning: $running domain(s) still running; libvirtd stops, their QEMU processes keep running (destroy them first: virsh -c qemu:///system destroy NAME)"
  fi
  stop_daemon libvirtd
  stop_daemon virtlogd
  # dnsmasq of libvirt's networks outlives libvirtd; only those inside our namespace are ours.
  local d
  for d in $(pgrep -x dnsmasq || true); do
    if in_our_netns "$d"; then kill "$d"; changed "stopped libvirt's dnsmasq (pid $d) in $NS"; fi
  done
  if netns_exists; then
    if [ -n "$(ip netns pids "$NS")" ]; then say "kept: network namespace $NS still has processes: $(ip netns pids "$NS" | tr '\n' ' ')"
    else ip netns delete "$NS"; changed "deleted network namespace $NS"; fi
  else ok "network namespace $NS absent"; fi
}

cmd_remove() {
  if [ -e "$STATE_DIR/defined-pool-default" ] && daemon_pid libvirtd >/dev/null; then
    if [ -n "$(virsh -c qemu:///system vol-list default | tail -n +3 | grep .)" ]; then
      say "kept: storage pool default still holds volumes (virsh -c qemu:///system vol-list default)"
    else
      virsh -c qemu:///system pool-destroy default >/dev/null 2>&1 || true
      virsh -c qemu:///system pool-undefine default >/dev/null
      rm -f "$STATE_DIR/defined-pool-default"
      changed "undefined storage pool default"
    fi
  fi
  cmd_stop
  if [ -s "$STATE_DIR/installed-packages" ]; then
    mapfile -t pkgs < <(sort -u "$STATE_DIR/installed-packages")
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -q "${pkgs[@]}"
    DEBIAN_FRONTEND=noninteractive apt-get autoremove --purge -y -q
    rm -f "$STATE_DIR/installed-packages"
    changed "purged ${pkgs[*]} and what only they needed"
  fi
  rmdir "$STATE_DIR" 2>/dev/null || true
}

case "${1:-start}" in
  start) cmd_start ;;
  status) cmd_status ;;
  stop) cmd_stop ;;
  remove) cmd_remove ;;
  *) die "usage: $0 [start|status|stop|remove]" ;;
esac
