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

say() { echo "== $*"; }
ok() { echo "ok   - $*"; }
fail() { echo "FAIL - $*"; failures=$((failures + 1)); }

# wait_until TIMEOUT_S DESCRIPTION COMMAND...: poll every 0.5 s.
wait_until() {
    local timeout=$1 what=$2 deadline
    shift 2
    deadline=$(( $(date +%s) + timeout ))
    while ! "$@" >/dev/null 2>&1; do
        if [ "$(date +%s)" -ge "$deadline" ]; then
            echo "timeout after ${timeout}s: $what" >&2
            return 1
        fi
        sleep 0.5
    done
}

# ---- 1. docker ----
ensure_docker() {
    if ! command -v docker >/dev/null 2>&1 \
        || ! { docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1; }; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            say "installing docker.io docker-compose"
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io docker-compose >"$work/apt.log" 2>&1 \
                || { cat "$work/apt.log"; echo "docker-lab-aa.sh: apt-get install failed" >&2; return 1; }
        else
            echo "docker-lab-aa.sh: docker / compose missing and cannot install them (need root + apt-get)" >&2
            return 1
        fi
    fi
    if docker info >/dev/null 2>&1; then return 0; fi
    [ "$(id -u)" = 0 ] || { echo "docker-lab-aa.sh: dockerd is not running and we are not root" >&2; return 1; }
    say "starting dockerd"
    # No iptables/NAT/forwarding changes on the host: every lab network is internal.
    dockerd --iptables=false --ip-forward=false --ip-masq=false --bridge=none \
        >"$work/dockerd.log" 2>&1 &
    started_dockerd_pid=$!
    wait_until 60 "dockerd ready" docker info || { tail -20 "$work/dockerd.log"; return 1; }
}

pick_compose() {
    if [ -n "${VGW_COMPOSE:-}" ]; then COMPOSE=$VGW_COMPOSE
    elif docker compose version >/dev/null 2>&1; then COMPOSE="docker compose"
    else COMPOSE="docker-compose"
    fi
    say "compose: $COMPOSE ($($COMPOSE version --short 2>/dev/null || $COMPOSE version | head -1))"
}
compose() { $COMPOSE -p "$project" -f "$LAB/compose.yaml" "$@"; }

teardown() {
    local rc=$?
    if [ "$lab_up" = 1 ] && [ "$keep" = 0 ]; then
        say "tearing down"
        compose logs --no-color >"$work/lab.log" 2>&1 || true
        [ "$failures" -gt 0 ] && { echo "--- lab logs (last 60 lines)"; tail -60 "$work/lab.log"; }
        compose down -v --remove-orphans --rmi all >/dev/null 2>&1 || compose down -v --remove-orphans || true
        docker image prune -f --filter label=org.vgw.lab=build >/dev/null 2>&1 || true
        [ -n "$imported_base" ] && docker rmi "$imported_base" >/dev/null 2>&1 || true
        local left
        left=$(docker ps -aq --filter label=com.docker.compose.project="$project"; \
               docker network ls -q --filter label=com.docker.compose.project="$project")
        [ -z "$left" ] && ok "nothing left behind (containers, networks)" || fail "left behind: $left"
    fi
    if [ -n "$started_dockerd_pid" ] && [ "$keep" = 0 ]; then
        kill "$started_dockerd_pid" 2>/dev/null && wait "$started_dockerd_pid" 2>/dev/null
    fi
    rm -rf "$work"
    [ "$failures" -gt 0 ] && rc=1
    echo "docker-lab-aa: $([ "$rc" = 0 ] && echo PASS || echo FAIL) ($failures failure(s))"
    exit "$rc"
}

ensure_docker || { echo "docker-lab-aa: FAIL (no docker)"; exit 1; }
pick_compose
trap teardown EXIT
trap 'exit 130' INT TERM

# ---- 2. base image ----
if [ -n "${NODE_IMAGE:-}" ]; then
    say "base image from NODE_IMAGE: $NODE_IMAGE"
elif [ "$official" = 1 ]; then
    export NODE_IMAGE=node:20-slim
    say "base image: $NODE_IMAGE (official, built from source in the image)"
else
    if [ ! -f dist/daemon/main.js ] || [ ! -f build/Release/vgw_tun.node ]; then
        say "building on the host (npm run build) for the local base image"
        npm run build >"$work/build.log" 2>&1 || { tail -30 "$work/build.log"; fail "npm run build"; exit 1; }
    fi
    images_before=$(docker images --format '{{.Repository}}:{{.Tag}}' 2>/dev/null)
    base=$(docker/local-base-image.sh | tail -n 1)
    [ -n "$base" ] && docker image inspect "$base" >/dev/null 2>&1 || { fail "local base image"; exit 1; }
    grep -qx "$base" <<<"$images_before" || imported_base=$base
    export NODE_IMAGE=$base
    say "base image: $NODE_IMAGE (local, from this host)"
fi

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
holds() { docker exec "$1" ip -o -4 addr show 2>/dev/null | grep -q " $2/"; }
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
