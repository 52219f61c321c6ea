# Shared by .ci/docker-lab.sh and .ci/docker-lab-aa.sh (sourced, not run).
# The caller sets: LAB_NAME, work, failures, started_dockerd_pid, imported_base,
# lab_up, keep, official, project, and defines compose().

say() { echo "== $*"; }
ok() { echo "ok   - $*"; }
fail() { echo "FAIL - $*"; failures=$((failures + 1)); }
skip() { echo "skip - $*"; }

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

# docker.io + docker-compose from Debian when the daemon or compose is missing; dockerd if not running.
ensure_docker() {
    if ! command -v dockerd >/dev/null 2>&1 \
        || ! { docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1; }; then
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            say "installing docker.io docker-compose"
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io docker-compose >"$work/apt.log" 2>&1 \
                || { cat "$work/apt.log"; echo "$LAB_NAME: apt-get install failed" >&2; return 1; }
        else
            echo "$LAB_NAME: docker / compose missing and cannot install them (need root + apt-get)" >&2
            return 1
        fi
    fi
    if docker info >/dev/null 2>&1; then return 0; fi
    [ "$(id -u)" = 0 ] || { echo "$LAB_NAME: dockerd is not running and we are not root" >&2; return 1; }
    say "starting dockerd"
    # No iptables/NAT/forwarding changes on the host: the lab's networks are
    # all internal and need only the bridges and veths, which dockerd still makes.
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

# EXIT trap: logs on failure, compose down, remove what this run made, one PASS/FAIL line.
lab_teardown() {
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
    echo "$LAB_NAME: $([ "$rc" = 0 ] && echo PASS || echo FAIL) ($failures failure(s))"
    exit "$rc"
}

# NODE_IMAGE as given, the official image (--official), or a local one built from this host.
choose_base_image() {
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
        local images_before base
        images_before=$(docker images --format '{{.Repository}}:{{.Tag}}' 2>/dev/null)
        base=$(docker/local-base-image.sh | tail -n 1)
        [ -n "$base" ] || { fail "local base image"; exit 1; }
        docker image inspect "$base" >/dev/null 2>&1 || { fail "local base image $base missing"; exit 1; }
        # Remove it afterwards only if it is new (the tag is a content hash).
        grep -qx "$base" <<<"$images_before" || imported_base=$base
        export NODE_IMAGE=$base
        say "base image: $NODE_IMAGE (local, from this host)"
    fi
}

# Refuses to bring a lab up when one of its subnets overlaps a network the host
# itself is on: the host would answer ARP for its own address on the lab bridge,
# and lab packets could meet the host's real network.
require_free_subnets() {  # COMPOSE_FILE
    local file=$1 subnet clash=0
    for subnet in $(sed -n 's/.*subnet: *\([0-9.\/]*\).*/\1/p' "$file"); do
        if python3 - "$subnet" <<'PY'
import ipaddress, subprocess, sys
lab = ipaddress.ip_network(sys.argv[1])
for line in subprocess.run(['ip', '-4', '-o', 'addr', 'show'], capture_output=True, text=True).stdout.splitlines():
    net = ipaddress.ip_interface(line.split()[3]).network
    if net.overlaps(lab) and not net.is_loopback:
        sys.exit(0)
sys.exit(1)
PY
        then
            fail "lab subnet $subnet overlaps a network of this host ($(ip -4 -o addr show | awk '{print $2, $4}' | tr '\n' ' '))"
            clash=1
        fi
    done
    return $clash
}
