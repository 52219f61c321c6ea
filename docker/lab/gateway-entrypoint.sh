#!/bin/sh
# Entrypoint of the gateway containers: starts vgwd with the given arguments
# (--config FILE [--instance NAME] ...).
#
# Floating addresses (VGW_LAB_FLOATING="198.51.100.1/24 10.1.0.1/16"): an HA
# gateway's public IP and VNet next hop follow the active instance. When vgwd
# manages them itself (HA, issue 3: detected by `vgw failover` existing, or
# forced with VGW_LAB_HA=daemon) both instances simply run vgwd. Until then
# (VGW_LAB_HA=lab) this script is a COLD STANDBY stand-in: an instance whose
# floating public address is already answering waits; once nobody answers it
# takes the addresses, announces them (gratuitous ARP via arp_notify) and starts
# vgwd, which re-establishes the tunnels with INITIAL_CONTACT. A real failover
# but a slow one (seconds, fresh IKE handshakes), like Azure's unplanned one.
set -eu

log() { echo "gateway-entrypoint: $*" >&2; }
ROLE_FILE=/run/vgw/lab-role
mkdir -p /run/vgw
# Docker gives even internal networks a default route to the host bridge; the
# lab has no way out (and a gateway must not leak unencrypted traffic there).
ip route del default 2>/dev/null || true

instance=""
prev=""
for a in "$@"; do
    [ "$prev" = --instance ] && instance=$a
    prev=$a
done

mode=${VGW_LAB_HA:-auto}
if [ "$mode" = auto ]; then
    if [ -z "${VGW_LAB_FLOATING:-}" ]; then mode=none
    elif vgw --help 2>/dev/null | grep -Eq '^ +failover( |$)'; then mode=daemon
    else mode=lab
    fi
fi

# Addresses this instance owns for itself (not floating) on the interface that reaches ADDR.
dev_for() { ip -o route get "$1" 2>/dev/null | sed -n 's/.* dev \([^ ]*\).*/\1/p'; }
own_addr_on() { ip -o -4 addr show dev "$1" | sed -n 's/.* inet \([0-9.]*\)\/.*/\1/p' | head -n 1; }

if [ "$mode" != lab ]; then
    echo active > "$ROLE_FILE"
    log "starting vgwd $* (floating addresses: ${mode})"
    exec vgwd "$@"
fi

# --- lab cold standby (until vgwd implements HA) ---
first=${VGW_LAB_FLOATING%% *}
pub=${first%/*}
pubdev=$(dev_for "$pub")
[ -n "$pubdev" ] || { log "no interface reaches $pub"; exit 1; }
self=$(own_addr_on "$pubdev")

# Instance 0 claims at once when free; others give it a head start, so a
# fresh `up` makes instance 0 the active one.
case $instance in
    *-0) head_start=0 ;;
    *) head_start=${VGW_LAB_STANDBY_HEAD_START:-8} ;;
esac
echo standby > "$ROLE_FILE"
trap 'log "stopped while standby"; exit 0' TERM INT
log "instance ${instance:-?}: cold standby for $pub (lab stand-in for HA; own address $self on $pubdev)"
sleep "$head_start" &
wait $! || true
misses=0
while [ "$misses" -lt 3 ]; do
    if ping -c 1 -W 1 -I "$self" "$pub" >/dev/null 2>&1; then
        [ "$misses" -gt 0 ] && log "$pub answers again: staying standby"
        misses=0
        sleep 1 &
        wait $! || true
    else
        misses=$((misses + 1))
    fi
done

log "nobody answers for $pub: taking over ${VGW_LAB_FLOATING}"
for cidr in $VGW_LAB_FLOATING; do
    dev=$(dev_for "${cidr%/*}")
    ip addr add "$cidr" dev "$dev"
done
# Announce the new owner: with arp_notify=1 (compose sysctls) bringing the
# link up sends a gratuitous ARP for every address on it; peers and VMs update
# their neighbour entries instead of waiting for them to go stale.
for cidr in $VGW_LAB_FLOATING; do
    dev=$(dev_for "${cidr%/*}")
    ip link set dev "$dev" down && ip link set dev "$dev" up
done
echo active > "$ROLE_FILE"
trap - TERM INT
log "active: starting vgwd $*"
exec vgwd "$@"
