#!/bin/sh
# Entrypoint of the VM/host containers: add routes to the remote prefixes via
# the local gateway (there is no DHCP option for that on a docker network),
# then idle until stopped.
#   host-entrypoint.sh "10.2.0.0/16 via 10.1.0.1" "10.3.0.0/16 via 10.1.0.1" ...
set -eu
# Docker gives even internal networks a default route to the host bridge;
# the lab has no way out, so drop it (unknown destinations fail fast).
ip route del default 2>/dev/null || true
for route in "$@"; do
    # shellcheck disable=SC2086 # the route is a word list on purpose
    ip route replace $route
    echo "host-entrypoint: route $route" >&2
done
trap 'exit 0' TERM INT
while :; do
    sleep 3600 &
    wait $! || true
done
