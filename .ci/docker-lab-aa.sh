#!/usr/bin/env bash
# Run docker/labs/active-active-bgp end to end, then leave nothing behind:
#   1. docker.io + docker-compose from Debian if missing; dockerd if not running
#   2. a local base image (docker/local-base-image.sh), unless NODE_IMAGE is set
#      or --official (node:20-slim from the registry, built from source)
#   3. compose up --build; all 4 gateway instances healthy = every instance has
#      both its tunnels Connected: the 4-tunnel full mesh, seen from both ends
#   4. BGP: 2 sessions Established on every instance; each vnet1 instance has
#      10.2.0.0/16 installed from both onprem instances, each onprem instance
#      10.1.0.0/16 from both vnet1 instances; pings VM <-> host both ways
#   5. kill vnet1-gw-1: both onprem instances drop their session to it and
#      withdraw the routes learned through it, keep 10.1.0.0/16 via vnet1-gw-0;
#      vnet1-gw-0 takes vnet1-gw-1's private address (the VM's ECMP next hop);
#      pings recover and the packets go through the surviving tunnels
#   6. start it again: sessions and routes come back, the address goes home
#   7. compose down (containers, networks, volumes, the lab image), remove the
#      base image if this run imported it, stop dockerd if this run started it
# Every wait has a timeout; a normal run takes 2-3 minutes.
#
# Usage: .ci/docker-lab-aa.sh [--official] [--keep]     (--keep: leave the lab running)
# Env:   NODE_IMAGE (base image), VGW_COMPOSE ("docker compose" or "docker-compose")
set -uo pipefail
cd "$(dirname "$0")/.."

official=0
keep=0
for a in "$@"; do
    case $a in
        --official) official=1 ;;
        --keep) keep=1 ;;
        -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
        *) echo "docker-lab-aa.sh: unknown option $a" >&2; exit 2 ;;
    esac
done

LAB=docker/labs/active-active-bgp
project=vgw-lab-aa
work=$(mktemp -d "${TMPDIR:-/tmp}/vgw-docker-lab-aa.XXXXXX")
failures=0
started_dockerd_pid=""
imported_base=""
lab_up=0

LAB_NAME=docker-lab-aa
# shellcheck source=lib/docker-lab-common.sh
. .ci/lib/docker-lab-common.sh
compose() { $COMPOSE -p "$project" -f "$LAB/compose.yaml" "$@"; }

require_free_subnets "$LAB/compose.yaml" || exit 1
ensure_docker || { echo "$LAB_NAME: FAIL (no docker)"; exit 1; }
pick_compose
trap lab_teardown EXIT
trap 'exit 130' INT TERM

# ---- 2. base image ----
choose_base_image

# ---- 3. up: 4 instances, 4 tunnels ----
gateways=(vnet1-gw-0 vnet1-gw-1 onprem-gw-0 onprem-gw-1)
for c in "${gateways[@]}" vnet1-vm onprem-host; do
    if docker inspect "$c" >/dev/null 2>&1; then
        echo "docker-lab-aa.sh: a container named $c already exists (another lab running? docker compose down first)" >&2
        exit 1
    fi
done
say "compose up --build ($LAB)"
lab_up=1
timeout 600 $COMPOSE -p "$project" -f "$LAB/compose.yaml" up -d --build >"$work/up.log" 2>&1 \
    || { tail -40 "$work/up.log"; fail "compose up"; exit 1; }
ok "lab up ($(docker ps -q --filter label=com.docker.compose.project="$project" | wc -l) containers)"

healthy() { [ "$(docker inspect -f '{{.State.Health.Status}}' "$1" 2>/dev/null)" = healthy ]; }
all_healthy() { local c; for c in "${gateways[@]}"; do healthy "$c" || return 1; done; }
if wait_until 150 "gateways healthy" all_healthy; then
    ok "4 tunnels up: every instance has both its connections Connected (${gateways[*]} healthy)"
else
    for c in "${gateways[@]}"; do echo "  $c: $(docker inspect -f '{{.State.Status}} {{.State.Health.Status}}' "$c" 2>&1)"; done
    fail "gateways healthy"
    exit 1
fi

# ---- helpers over `vgw ... --json` (node runs in the gateway image) ----
# vgwq CONTAINER 'vgw args' 'JS expression over j (the parsed JSON)': prints the value.
vgwq() {
    docker exec "$1" sh -c "vgw $2 --json" 2>/dev/null | docker exec -i "$1" node -e '
        let t = ""; process.stdin.on("data", (d) => t += d).on("end", () => {
          let j; try { j = JSON.parse(t); } catch { process.exit(1); }
          const v = (0, eval)("(j) => " + process.argv[1])(j);
          console.log(typeof v === "string" ? v : JSON.stringify(v)); });' "$3"
}
# Neighbors in state Established, sorted, comma-joined.
established() { vgwq "$1" "bgp peers" 'j.filter((p) => p.state === "Established").map((p) => p.neighbor).sort().join(",")'; }
# Source peers of the installed learned routes for PREFIX, sorted, comma-joined.
installed_from() { vgwq "$1" "routes --learned" "j.filter((r) => r.network === '$2' && r.installed).map((r) => r.sourcePeer).sort().join(',')"; }
is_established() { [ "$(established "$1")" = "$2" ]; }
is_installed_from() { [ "$(installed_from "$1" "$2")" = "$3" ]; }
egress() { vgwq "$1" status "(j.connections.find((c) => c.name === '$2') || { egressPackets: -1 }).egressPackets"; }
# No `| grep -q` under pipefail: grep quitting early makes the writer fail (SIGPIPE).
holds() { grep -q " $2/" <<<"$(docker exec "$1" ip -o -4 addr show 2>/dev/null)"; }
ping_ok() { docker exec "$1" ping -n -c 1 -W 1 "$2"; }
ping_count() { docker exec "$1" ping -n -q -c "$3" -i 0.2 -W 1 "$2" 2>/dev/null | sed -n 's/.* \([0-9]*\) received.*/\1/p'; }

VNET1_PEERS=10.1.255.30,10.1.255.31
ONPREM_PEERS=10.2.255.30,10.2.255.31
check_bgp_full() {
    local c
    for c in vnet1-gw-0 vnet1-gw-1; do
        if wait_until 60 "$c: BGP with both onprem instances" is_established "$c" "$ONPREM_PEERS" \
            && wait_until 20 "$c: 10.2.0.0/16 from both" is_installed_from "$c" 10.2.0.0/16 "$ONPREM_PEERS"; then
            ok "$1$c: BGP Established with $ONPREM_PEERS; 10.2.0.0/16 installed from both (ECMP over 2 tunnels)"
        else
            fail "$1$c: BGP [$(established "$c")] 10.2.0.0/16 from [$(installed_from "$c" 10.2.0.0/16)], want $ONPREM_PEERS"
        fi
    done
    for c in onprem-gw-0 onprem-gw-1; do
        if wait_until 60 "$c: BGP with both vnet1 instances" is_established "$c" "$VNET1_PEERS" \
            && wait_until 20 "$c: 10.1.0.0/16 from both" is_installed_from "$c" 10.1.0.0/16 "$VNET1_PEERS"; then
            ok "$1$c: BGP Established with $VNET1_PEERS; 10.1.0.0/16 installed from both"
        else
            fail "$1$c: BGP [$(established "$c")] 10.1.0.0/16 from [$(installed_from "$c" 10.1.0.0/16)], want $VNET1_PEERS"
        fi
    done
}
check_pings() {  # LABEL
    local from to got
    for pair in "onprem-host 10.1.0.4" "vnet1-vm 10.2.0.4"; do
        read -r from to <<<"$pair"
        if ! wait_until 30 "$from -> $to" ping_ok "$from" "$to"; then fail "$1$from cannot reach $to"; continue; fi
        got=$(ping_count "$from" "$to" 10)
        [ "${got:-0}" -ge 9 ] && ok "$1$from -> $to $got/10 replies" || fail "$1$from -> $to ${got:-0}/10 replies (want >= 9)"
    done
}

# ---- 4. BGP and pings ----
say "BGP over the 4 tunnels"
check_bgp_full ""
say "pings"
check_pings ""

# ---- 5. kill vnet1-gw-1 ----
say "kill vnet1-gw-1"
compose kill vnet1-gw-1 >/dev/null 2>&1
wait_until 10 "vnet1-gw-1 stopped" sh -c "[ \"\$(docker inspect -f '{{.State.Running}}' vnet1-gw-1)\" = false ]" \
    && ok "killed vnet1-gw-1" || fail "kill vnet1-gw-1"
for c in onprem-gw-0 onprem-gw-1; do
    if wait_until 30 "$c: session to 10.1.255.31 down" is_established "$c" 10.1.255.30 \
        && wait_until 10 "$c: routes via 10.1.255.31 withdrawn" is_installed_from "$c" 10.1.0.0/16 10.1.255.30; then
        ok "$c: session to vnet1-gw-1 (10.1.255.31) down, its routes withdrawn; 10.1.0.0/16 only via 10.1.255.30"
    else
        fail "$c: BGP [$(established "$c")] 10.1.0.0/16 from [$(installed_from "$c" 10.1.0.0/16)], want only 10.1.255.30"
    fi
done
if wait_until 20 "vnet1-gw-0 holds 10.1.255.11" holds vnet1-gw-0 10.1.255.11; then
    ok "vnet1-gw-0 took vnet1-gw-1's private address 10.1.255.11 (the VM's second ECMP next hop)"
else
    fail "vnet1-gw-0 does not hold 10.1.255.11"
fi
before0=$(egress onprem-gw-0 onprem-to-vnet1-0); before1=$(egress onprem-gw-1 onprem-to-vnet1-0)
check_pings "after kill: "
after0=$(egress onprem-gw-0 onprem-to-vnet1-0); after1=$(egress onprem-gw-1 onprem-to-vnet1-0)
moved=$(( after0 - before0 + after1 - before1 ))
[ "$moved" -ge 10 ] && ok "flows moved to the surviving tunnels: +$moved ESP packets out on onprem-*/onprem-to-vnet1-0" \
    || fail "surviving tunnels carried only +$moved packets"

# ---- 6. bring it back ----
say "start vnet1-gw-1"
compose start vnet1-gw-1 >/dev/null 2>&1
if wait_until 90 "vnet1-gw-1 healthy again" healthy vnet1-gw-1; then ok "vnet1-gw-1 back (both its tunnels Connected)"
else fail "vnet1-gw-1 did not become healthy again"; fi
check_bgp_full "after restart: "
if wait_until 20 "vnet1-gw-0 returned 10.1.255.11" sh -c "! docker exec vnet1-gw-0 ip -o -4 addr show | grep -q ' 10.1.255.11/'"; then
    ok "vnet1-gw-0 gave 10.1.255.11 back"
else
    fail "vnet1-gw-0 still holds 10.1.255.11"
fi
check_pings "after restart: "
exit 0
