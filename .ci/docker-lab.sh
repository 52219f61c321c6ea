#!/usr/bin/env bash
# Run the default docker lab (compose.yaml) end to end, then leave nothing behind:
#   1. docker.io + docker-compose from Debian if missing; dockerd if not running
#   2. a local base image (docker/local-base-image.sh), unless NODE_IMAGE is set
#      or --official (node:20-slim from the registry, built from source)
#   3. compose up --build, wait for the gateways' health checks
#   4. pings across S2S (vnet1<->onprem) and V2V (vnet1<->vnet2), checked against
#      the tunnels' ESP counters; P2S when this build has `vgw client`
#   5. kill the vnet1 instance that holds the floating public address, assert
#      traffic recovers through the other one, start it again and assert it
#      rejoins as standby without taking the address back
#   6. compose down (containers, networks, volumes, the lab image), remove the
#      base image if this run imported it, stop dockerd if this run started it
# Every wait has a timeout; a normal run takes 2-4 minutes.
#
# Usage: .ci/docker-lab.sh [--official] [--keep]     (--keep: leave the lab running)
# Env:   NODE_IMAGE (base image), VGW_COMPOSE ("docker compose" or "docker-compose")
set -uo pipefail
cd "$(dirname "$0")/.."

official=0
keep=0
for a in "$@"; do
    case $a in
        --official) official=1 ;;
        --keep) keep=1 ;;
        -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
        *) echo "docker-lab.sh: unknown option $a" >&2; exit 2 ;;
    esac
done

work=$(mktemp -d "${TMPDIR:-/tmp}/vgw-docker-lab.XXXXXX")
failures=0
started_dockerd_pid=""
imported_base=""
lab_up=0

LAB_NAME=docker-lab
# shellcheck source=lib/docker-lab-common.sh
. .ci/lib/docker-lab-common.sh
compose() { $COMPOSE "$@"; }

require_free_subnets compose.yaml || exit 1
ensure_docker || { echo "$LAB_NAME: FAIL (no docker)"; exit 1; }
pick_compose
project=$(basename "$PWD" | tr -cd 'a-z0-9_-')   # Compose's default project name
trap lab_teardown EXIT
trap 'exit 130' INT TERM

# ---- 2. base image ----
choose_base_image

# ---- 3. up ----
gateways=(vnet1-gw-0 vnet1-gw-1 onprem-gw vnet2-gw-0 vnet2-gw-1)
for c in "${gateways[@]}" vnet1-vm onprem-host vnet2-vm p2s-client; do
    if docker inspect "$c" >/dev/null 2>&1; then
        echo "docker-lab.sh: a container named $c already exists (a lab already running? docker compose down first)" >&2
        exit 1
    fi
done
say "compose up --build"
lab_up=1
timeout 600 $COMPOSE up -d --build >"$work/up.log" 2>&1 || { tail -40 "$work/up.log"; fail "compose up"; exit 1; }
ok "lab up ($(docker ps -q --filter label=com.docker.compose.project="$project" | wc -l) containers)"

healthy() { [ "$(docker inspect -f '{{.State.Health.Status}}' "$1" 2>/dev/null)" = healthy ]; }
all_healthy() { local c; for c in "${gateways[@]}"; do healthy "$c" || return 1; done; }
if wait_until 180 "gateways healthy" all_healthy; then
    ok "gateways healthy: ${gateways[*]}"
else
    for c in "${gateways[@]}"; do echo "  $c: $(docker inspect -f '{{.State.Status}} {{.State.Health.Status}}' "$c" 2>&1)"; done
    fail "gateways healthy"
    exit 1
fi

# ---- 4. pings across the tunnels ----
ping_ok() { docker exec "$1" ping -n -c 1 -W 1 "$2"; }
# received count of COUNT pings
ping_count() { docker exec "$1" ping -n -q -c "$3" -i 0.2 -W 1 "$2" 2>/dev/null | sed -n 's/.* \([0-9]*\) received.*/\1/p'; }
# egressPackets of a connection, from vgw status --json
egress() {
    docker exec "$1" vgw status --json 2>/dev/null | docker exec -i "$1" node -e '
        let t = ""; process.stdin.on("data", (d) => t += d).on("end", () => {
          const c = JSON.parse(t).connections.find((x) => x.name === process.argv[1]);
          console.log(c ? c.egressPackets : -1); });' "$2"
}

check_path() {  # NAME FROM TO GATEWAY CONNECTION
    local name=$1 from=$2 to=$3 gw=$4 conn=$5 before after got
    if ! wait_until 30 "$name first reply" ping_ok "$from" "$to"; then
        fail "$name: $from cannot reach $to"
        return
    fi
    before=$(egress "$gw" "$conn")
    got=$(ping_count "$from" "$to" 10)
    after=$(egress "$gw" "$conn")
    if [ "${got:-0}" -ge 9 ] && [ $((after - before)) -ge 10 ]; then
        ok "$name: $from -> $to $got/10 replies, $((after - before)) packets out through $gw/$conn"
    else
        fail "$name: $from -> $to ${got:-0}/10 replies, $gw/$conn egress +$((after - before)) (want >= 9 replies, >= 10 ESP packets)"
    fi
}
say "pings across the tunnels"
check_path "S2S" onprem-host 10.1.0.4 onprem-gw onprem-to-vnet1
check_path "S2S back" vnet1-vm 10.2.0.4 onprem-gw onprem-to-vnet1
# vnet2's active instance may be -0 or -1; count on whichever holds the floating address.
holder() {  # FLOATING_ADDR CANDIDATE...: the candidate with the address on an interface
    local addr=$1 c
    shift
    for c in "$@"; do
        # No `| grep -q` under pipefail: grep quitting early makes the writer fail (SIGPIPE).
        grep -q " $addr/" <<<"$(docker exec "$c" ip -o -4 addr show 2>/dev/null)" && { echo "$c"; return 0; }
    done
    return 1
}
# The pair may still be settling its election: give it a few seconds.
vnet2_active=""
for _ in $(seq 1 30); do
    vnet2_active=$(holder 198.51.100.3 vnet2-gw-0 vnet2-gw-1) && break
    sleep 0.5
done
[ -n "$vnet2_active" ] || { fail "no vnet2 instance holds 198.51.100.3"; vnet2_active=vnet2-gw-0; }
check_path "V2V" vnet2-vm 10.1.0.4 "$vnet2_active" vnet2-to-vnet1
check_path "V2V back" vnet1-vm 10.3.0.4 "$vnet2_active" vnet2-to-vnet1

if ! grep -Eq '^ +client( |$)' <<<"$(docker exec p2s-client vgw --help 2>/dev/null)"; then
    skip "P2S: this build has no \`vgw client\` yet (point-to-site, issue 5)"
elif [ ! -f docker/lab/p2s/alice/profile.yaml ] || ! grep -q vpnClientConfiguration docker/lab/vnet1-gw.yaml; then
    skip "P2S: the lab has no point-to-site configuration (docker/lab/p2s/README.md)"
else
    if wait_until 60 "p2s client connected" ping_ok p2s-client 10.1.0.4; then
        got=$(ping_count p2s-client 10.1.0.4 10)
        [ "${got:-0}" -ge 9 ] && ok "P2S: p2s-client -> 10.1.0.4 $got/10" || fail "P2S: p2s-client -> 10.1.0.4 ${got:-0}/10"
    else
        fail "P2S: p2s-client cannot reach 10.1.0.4 (docker logs p2s-client)"
    fi
fi

# ---- 5. failover ----
say "failover of vnet1-gw"
# Exactly one instance may answer for the floating address (no split brain).
holders=""
for c in vnet1-gw-0 vnet1-gw-1; do holder 198.51.100.1 "$c" >/dev/null && holders="$holders $c"; done
case $holders in
    " vnet1-gw-0"|" vnet1-gw-1") ok "exactly one vnet1 instance holds 198.51.100.1:$holders" ;;
    "") fail "no vnet1 instance holds 198.51.100.1"; exit 1 ;;
    *) fail "split brain: both vnet1 instances hold 198.51.100.1" ;;
esac
active=$(holder 198.51.100.1 vnet1-gw-0 vnet1-gw-1)
standby=$([ "$active" = vnet1-gw-0 ] && echo vnet1-gw-1 || echo vnet1-gw-0)
mode=$(docker logs "$active" 2>&1 | sed -n 's/.*(floating addresses: \(daemon\)).*/\1/p; s/.*cold standby for.*/lab cold standby/p' | head -1)
echo "active $active, standby $standby, HA by: ${mode:-?}"
docker/watch-failover.sh --from onprem-host --to 10.1.0.4 --interval 0.1 --duration 50 >"$work/watch.txt" 2>&1 &
watch_pid=$!
sleep 3
t0=$(date +%s.%N)
compose kill "$active" >/dev/null 2>&1
wait_until 5 "$active stopped" sh -c "[ \"\$(docker inspect -f '{{.State.Running}}' $active)\" = false ]" \
    && ok "killed $active" || fail "kill $active"
if wait_until 90 "traffic through $standby" ping_ok onprem-host 10.1.0.4; then
    t1=$(date +%s.%N)
    ok "traffic recovered $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s after the kill"
else
    fail "traffic did not recover within 90 s after killing $active"
fi
[ "$(holder 198.51.100.1 "$standby")" = "$standby" ] && ok "$standby now holds 198.51.100.1" || fail "$standby does not hold 198.51.100.1"
check_path "S2S after failover" onprem-host 10.1.0.4 onprem-gw onprem-to-vnet1
check_path "V2V after failover" vnet2-vm 10.1.0.4 "$standby" vnet1-to-vnet2

say "bring $active back"
compose start "$active" >/dev/null 2>&1
if wait_until 90 "$active healthy again" healthy "$active"; then
    ok "$active rejoined (healthy)"
else
    fail "$active did not become healthy again"
fi
sleep 3
if holder 198.51.100.1 "$active" >/dev/null; then
    fail "$active took 198.51.100.1 back (it must rejoin as standby)"
else
    ok "$active rejoined as standby; $standby keeps 198.51.100.1"
fi
got=$(ping_count onprem-host 10.1.0.4 10)
[ "${got:-0}" -ge 9 ] && ok "S2S after rejoin: $got/10" || fail "S2S after rejoin: ${got:-0}/10"

wait "$watch_pid" 2>/dev/null   # ends by itself after --duration
sed 's/^/    /' "$work/watch.txt"
exit 0
