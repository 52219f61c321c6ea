# shellcheck shell=bash
# bench/lib.sh - names, addresses and helpers for the dataplane benchmark.
#
#   vb-hostA (10.1.0.10) -- vb-gwA (lan0 10.1.0.1 | wan0 192.0.2.1)
#                              ||  veth "internet", MTU 1500
#   vb-hostB (10.2.0.10) -- vb-gwB (lan0 10.2.0.1 | wan0 192.0.2.2)
#
# Everything lives in namespaces named vb-*; none has a default route, so no
# packet can leave the machine. Only PIDs recorded in our own pid files are
# ever signalled.

VB_DIR=${VB_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}
VB_REPO=${VB_REPO:-$(cd "$VB_DIR/.." && pwd)}
VB_STATE=${VB_STATE:-/tmp/vgw-bench-state}

NS_HA=vb-hostA
NS_GA=vb-gwA
NS_GB=vb-gwB
NS_HB=vb-hostB
NET_A=10.1.0.0/24
NET_B=10.2.0.0/24
HOSTA_IP=10.1.0.10
GWA_LAN=10.1.0.1
GWA_PUB=192.0.2.1
GWB_PUB=192.0.2.2
GWB_LAN=10.2.0.1
HOSTB_IP=10.2.0.10
LINK_MTU=1500

vb_log() { echo "[$(date +%H:%M:%S)] $*" >&2; }
vb_die() { vb_log "ERROR: $*"; exit 1; }
nsx() { local ns=$1; shift; ip netns exec "$ns" "$@"; }
ns_exists() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qx -- "$1"; }

# kill_pidfile FILE: SIGTERM then SIGKILL every PID listed in FILE (first column).
kill_pidfile() {
  local f=$1 pid i alive
  [[ -f $f ]] || return 0
  while read -r pid _; do [[ $pid =~ ^[0-9]+$ ]] && kill -TERM "$pid" 2>/dev/null || true; done <"$f"
  for i in $(seq 1 50); do
    alive=0
    while read -r pid _; do [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && alive=1 || true; done <"$f"
    ((alive)) || break
    sleep 0.1
  done
  while read -r pid _; do [[ $pid =~ ^[0-9]+$ ]] && kill -KILL "$pid" 2>/dev/null || true; done <"$f"
  rm -f "$f"
  return 0
}

# cpu_ticks PID...: utime+stime (all threads) summed over the PIDs, in clock ticks.
cpu_ticks() {
  local total=0 pid s
  for pid in "$@"; do
    s=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    s=${s##*) }
    # shellcheck disable=SC2086
    set -- $s
    total=$((total + ${12} + ${13}))
  done
  echo "$total"
}

topo_down() {
  local ns p
  for ns in $NS_HA $NS_GA $NS_GB $NS_HB; do
    ns_exists "$ns" || continue
    # Processes left in OUR namespaces were started by this harness (after a crash).
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -TERM "$p" 2>/dev/null || true; done
    sleep 0.2
    for p in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
    ip netns del "$ns"
  done
}

topo_up() {
  topo_down
  local ns
  for ns in $NS_HA $NS_GA $NS_GB $NS_HB; do
    ip netns add "$ns"
    ip -n "$ns" link set lo up
  done
  ip -n $NS_GA link add lan0 mtu $LINK_MTU type veth peer name eth0 mtu $LINK_MTU netns $NS_HA
  ip -n $NS_GB link add lan0 mtu $LINK_MTU type veth peer name eth0 mtu $LINK_MTU netns $NS_HB
  ip -n $NS_GA link add wan0 mtu $LINK_MTU type veth peer name wan0 mtu $LINK_MTU netns $NS_GB
  ip -n $NS_HA addr add $HOSTA_IP/24 dev eth0
  ip -n $NS_GA addr add $GWA_LAN/24 dev lan0
  ip -n $NS_GA addr add $GWA_PUB/24 dev wan0
  ip -n $NS_GB addr add $GWB_PUB/24 dev wan0
  ip -n $NS_GB addr add $GWB_LAN/24 dev lan0
  ip -n $NS_HB addr add $HOSTB_IP/24 dev eth0
  ip -n $NS_HA link set eth0 up
  ip -n $NS_HB link set eth0 up
  for ns in $NS_GA $NS_GB; do
    ip -n "$ns" link set lan0 up
    ip -n "$ns" link set wan0 up
    nsx "$ns" sysctl -qw net.ipv4.ip_forward=1
    nsx "$ns" sysctl -qw net.ipv4.conf.all.rp_filter=0
    nsx "$ns" sysctl -qw net.ipv4.conf.default.rp_filter=0
  done
  ip -n $NS_HA route add $NET_B via $GWA_LAN
  ip -n $NS_HB route add $NET_A via $GWB_LAN
}
