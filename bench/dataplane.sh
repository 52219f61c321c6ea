#!/usr/bin/env bash
# bench/dataplane.sh - vgwd's dataplane side by side with wireguard-go,
# OpenVPN (default and tuned), strongSwan kernel-libipsec and no tunnel.
#
#   sudo bench/dataplane.sh                    # all tunnels, ROUNDS=3
#   sudo ROUNDS=1 DURATION=5 bench/dataplane.sh vgwd wireguard_go
#
# Tunnels: baseline vgwd wireguard_go openvpn openvpn_tuned strongswan
#          (+ vgwd_nofast: vgwd with VGW_FASTPATH=0 VGW_TUN_VNET=0, not in the default set)
# Env: ROUNDS (3) DURATION (8 s per iperf3 run, max 10) PING_COUNT (100)
#      UDP_RATE (5G offered) OUT (bench/results) VGWD_NODE_ARGS (e.g.
#      "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile vgwd).
#
# Per tunnel and round (rounds interleave the tunnels, order rotated each
# round; the topology is rebuilt each time so no PMTU cache carries over):
#   ping idle, iperf3 TCP 1 stream, TCP 4 streams with ping under load,
#   UDP 1300-byte and 64-byte payloads, ping idle again; for each iperf3 run the tunnel
#   daemons' utime+stime (/proc/PID/stat) before/after and the load average.
# Raw files: $OUT/raw-<stamp>/<tunnel>/r<N>/; the summary (markdown table and
# <stamp>.json) is rendered by dist/bench/report.js.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tunnels.sh"
[[ $EUID -eq 0 ]] || vb_die "must run as root (network namespaces)"

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-8}
((DURATION <= 10)) || vb_die "DURATION must be <= 10 s"
PING_COUNT=${PING_COUNT:-100}
UDP_RATE=${UDP_RATE:-5G}
OUT=${OUT:-$VB_DIR/results}
TUNNELS=("$@")
[[ ${#TUNNELS[@]} -gt 0 ]] || TUNNELS=(baseline vgwd wireguard_go openvpn openvpn_tuned strongswan)
for t in "${TUNNELS[@]}"; do declare -F "up_$t" >/dev/null || vb_die "unknown tunnel '$t'"; done
for c in iperf3 ping; do command -v $c >/dev/null || vb_die "$c not installed"; done

STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RAW=$OUT/raw-$STAMP
mkdir -p "$RAW" "$VB_STATE"
CLK_TCK=$(getconf CLK_TCK)
cat >"$RAW/meta.json" <<EOF
{"stamp":"$STAMP","rounds":$ROUNDS,"duration":$DURATION,"pingCount":$PING_COUNT,"udpRate":"$UDP_RATE",
 "clkTck":$CLK_TCK,"nproc":$(nproc),"kernel":"$(uname -r)","cpu":"$(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)",
 "loadStart":"$(cut -d' ' -f1-3 /proc/loadavg)","tunnels":"${TUNNELS[*]}"}
EOF

cleanup() {
  local t
  for t in "${TUNNELS[@]}"; do
    [[ -d $VB_STATE/$t ]] && { kill_pidfile "$VB_STATE/$t/pids"; "down_$t" >/dev/null 2>&1 || true; }
  done
  kill_pidfile "$VB_STATE/iperf.pids"
  topo_down
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# measure DIR NAME PIDS -- command...: runs the command (hostA side) while
# sampling the daemons' CPU ticks, wall clock and load average.
measure() {
  local dir=$1 name=$2 pids=$3; shift 4
  local t0 t1 c0 c1
  # shellcheck disable=SC2086
  c0=$(cpu_ticks $pids); t0=$(date +%s.%N)
  "$@" >"$dir/$name.json" 2>"$dir/$name.err" || true
  # shellcheck disable=SC2086
  c1=$(cpu_ticks $pids); t1=$(date +%s.%N)
  echo "{\"ticks\":$((c1 - c0)),\"wall\":$(awk -v a="$t0" -v b="$t1" "BEGIN{printf \"%.3f\", b-a}"),\"load\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}" >"$dir/$name.cpu.json"
}

run_one() { # tunnel round
  local t=$1 r=$2 dir=$RAW/$1/r$2
  mkdir -p "$dir"
  export ST=$VB_STATE/$t
  rm -rf "$ST"; mkdir -p "$ST"; chmod 700 "$ST"
  topo_up
  local s0 s1
  s0=$(date +%s.%N)
  if ! ("up_$t") >"$dir/up.log" 2>&1; then
    vb_log "$t r$r: up failed: $(tail -3 "$dir/up.log")"
    echo '{"status":"up-failed"}' >"$dir/status.json"
    kill_pidfile "$ST/pids"; topo_down; return 0
  fi
  local ok=0 i
  for i in $(seq 1 100); do
    if nsx $NS_HA ping -c1 -W1 -q $HOSTB_IP >/dev/null 2>&1; then ok=1; break; fi
    sleep 0.2
  done
  s1=$(date +%s.%N)
  if ((!ok)); then
    vb_log "$t r$r: no hostA->hostB connectivity"
    echo '{"status":"no-connectivity"}' >"$dir/status.json"
    kill_pidfile "$ST/pids"; "down_$t" || true; topo_down; return 0
  fi
  local pids="" dev mtu
  [[ -f $ST/pids ]] && pids=$(awk '{print $1}' "$ST/pids" | tr '\n' ' ')
  dev=$(ip -n $NS_GA route get $HOSTB_IP | sed -n 's/.* dev \([^ ]*\).*/\1/p' | head -1)
  mtu=$(ip -n $NS_GA -o link show "$dev" | sed -n 's/.* mtu \([0-9]*\).*/\1/p')
  echo "{\"status\":\"ok\",\"setup\":$(awk -v a="$s0" -v b="$s1" "BEGIN{printf \"%.3f\", b-a}"),\"dev\":\"$dev\",\"mtu\":${mtu:-0},\"pids\":\"$pids\"}" >"$dir/status.json"

  ip netns exec $NS_HB iperf3 -s >"$dir/iperf3-server.log" 2>&1 &
  echo "$! $NS_HB" >"$VB_STATE/iperf.pids"
  sleep 0.3
  local D=$DURATION
  nsx $NS_HA ping -c "$PING_COUNT" -i 0.01 -q $HOSTB_IP >"$dir/ping-idle.txt" 2>&1 || true
  measure "$dir" tcp1 "$pids" -- nsx $NS_HA iperf3 -c $HOSTB_IP -t "$D" -J
  sleep 0.5
  nsx $NS_HA ping -c $((D * 10 - 10)) -i 0.1 -q $HOSTB_IP >"$dir/ping-load.txt" 2>&1 &
  local ping_pid=$!
  sleep 0.5
  measure "$dir" tcp4 "$pids" -- nsx $NS_HA iperf3 -c $HOSTB_IP -t "$D" -P 4 -J
  wait $ping_pid 2>/dev/null || true
  sleep 0.5
  measure "$dir" udp1300 "$pids" -- nsx $NS_HA iperf3 -c $HOSTB_IP -t "$D" -u -l 1300 -b "$UDP_RATE" -J
  sleep 0.5
  measure "$dir" udp64 "$pids" -- nsx $NS_HA iperf3 -c $HOSTB_IP -t "$D" -u -l 64 -b "$UDP_RATE" -J
  sleep 1
  # idle again, after the load: a JIT-compiled / warmed-up daemon, queues drained
  nsx $NS_HA ping -c "$PING_COUNT" -i 0.01 -q $HOSTB_IP >"$dir/ping-idle-after.txt" 2>&1 || true
  for ns in $NS_GA $NS_GB; do
    nsx $ns ip -s link >"$dir/links-$ns.txt" 2>&1 || true
    nsx $ns cat /proc/net/snmp >"$dir/snmp-$ns.txt" 2>&1 || true
  done
  kill_pidfile "$VB_STATE/iperf.pids"
  kill_pidfile "$ST/pids"
  "down_$t" >/dev/null 2>&1 || true
  cp -r "$ST" "$dir/state" 2>/dev/null || true
  rm -rf "$dir/state/"*.key "$dir/state/"*/run 2>/dev/null || true
  topo_down
}

n=${#TUNNELS[@]}
for r in $(seq 1 "$ROUNDS"); do
  for k in $(seq 0 $((n - 1))); do
    t=${TUNNELS[$(((k + r - 1) % n))]}
    vb_log "round $r/$ROUNDS: $t (load $(cut -d' ' -f1-3 /proc/loadavg))"
    run_one "$t" "$r"
  done
done
sed -i "s/}\$/,\"loadEnd\":\"$(cut -d' ' -f1-3 /proc/loadavg)\"}/" "$RAW/meta.json"
node "$VB_REPO/dist/bench/report.js" "$RAW" "$OUT/$STAMP.json" "$OUT/$STAMP.md"
cat "$OUT/$STAMP.md"
