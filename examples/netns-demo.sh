#!/usr/bin/env bash
# Two vgwd gateways in network namespaces, with a host behind each:
#
#   ┌──────────┐     ┌──────────────┐            ┌──────────────┐     ┌──────────┐
#   │ demo-h1  │─────│ demo-gw1     │════════════│ demo-gw2     │─────│ demo-h2  │
#   │ 10.1.0.4 │ lan │ vnet1-gw     │  "internet"│ site1-gw     │ lan │ 10.2.0.4 │
#   └──────────┘     │ 192.0.2.1    │ 192.0.2/24 │ 192.0.2.2    │     └──────────┘
#                    └──────────────┘            └──────────────┘
#
# Configs: examples/vnet1-gw.yaml and examples/site1-gw.yaml. Nothing touches the
# root namespace except the control sockets in /run/vgw and logs in /tmp/vgw-demo.
#
#   sudo examples/netns-demo.sh up      # start both gateways, wait for the tunnel, ping
#   sudo examples/netns-demo.sh status  # vgw status of both
#   sudo examples/netns-demo.sh down    # stop the daemons (by PID) and delete the namespaces
set -euo pipefail
cd "$(dirname "$0")/.."
STATE=/tmp/vgw-demo
NS=(demo-h1 demo-gw1 demo-gw2 demo-h2)

run() { echo "+ $*"; "$@"; }
inns() { local ns=$1; shift; run ip netns exec "$ns" "$@"; }

up() {
  [ -f dist/daemon/main.js ] || { echo "build first: npm ci && npm run build"; exit 1; }
  down >/dev/null 2>&1 || true
  mkdir -p "$STATE"
  for ns in "${NS[@]}"; do run ip netns add "$ns"; inns "$ns" ip link set lo up; done
  run ip link add lan0 netns demo-gw1 type veth peer name eth0 netns demo-h1
  run ip link add wan0 netns demo-gw1 type veth peer name wan0 netns demo-gw2
  run ip link add lan0 netns demo-gw2 type veth peer name eth0 netns demo-h2
  inns demo-h1  ip addr add 10.1.0.4/16 dev eth0;   inns demo-h1 ip link set eth0 up
  inns demo-gw1 ip addr add 10.1.0.1/16 dev lan0;   inns demo-gw1 ip link set lan0 up
  inns demo-gw1 ip addr add 192.0.2.1/24 dev wan0;  inns demo-gw1 ip link set wan0 up
  inns demo-gw2 ip addr add 192.0.2.2/24 dev wan0;  inns demo-gw2 ip link set wan0 up
  inns demo-gw2 ip addr add 10.2.0.1/16 dev lan0;   inns demo-gw2 ip link set lan0 up
  inns demo-h2  ip addr add 10.2.0.4/16 dev eth0;   inns demo-h2 ip link set eth0 up
  inns demo-h1  ip route add 10.2.0.0/16 via 10.1.0.1
  inns demo-h2  ip route add 10.1.0.0/16 via 10.2.0.1
  for gw in demo-gw1 demo-gw2; do inns "$gw" sysctl -qw net.ipv4.ip_forward=1; done
  ip netns exec demo-gw1 node bin/vgwd.js --config examples/vnet1-gw.yaml > "$STATE/vnet1-gw.log" 2>&1 &
  echo $! > "$STATE/vnet1-gw.pid"
  ip netns exec demo-gw2 node bin/vgwd.js --config examples/site1-gw.yaml > "$STATE/site1-gw.log" 2>&1 &
  echo $! > "$STATE/site1-gw.pid"
  echo "waiting for the tunnel (logs in $STATE/)..."
  for _ in $(seq 1 50); do
    if node bin/vgw.js --socket /run/vgw/vnet1-gw.sock status --json 2>/dev/null | grep -q '"state": *"Connected"'; then break; fi
    sleep 0.2
  done
  node bin/vgw.js --socket /run/vgw/vnet1-gw.sock status
  inns demo-h1 ping -c 3 10.2.0.4
}

status() {
  node bin/vgw.js --socket /run/vgw/vnet1-gw.sock status
  node bin/vgw.js --socket /run/vgw/site1-gw.sock status
}

down() {
  for f in "$STATE"/*.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f"); kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$f"
  done
  for ns in "${NS[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  echo "demo stopped"
}

case "${1:-}" in
  up) up ;; status) status ;; down) down ;;
  *) echo "usage: $0 up|status|down"; exit 2 ;;
esac
