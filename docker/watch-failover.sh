#!/usr/bin/env bash
# Ping continuously from a lab container and report every gap in the replies:
# run it, kill the active gateway instance in another terminal, watch the gap.
#
#   docker/watch-failover.sh [--from onprem-host] [--to 10.1.0.4] [--interval 0.1] [--duration 60]
#
# Prints a line per gap while it runs ("gap 3.412 s: icmp_seq 120..153 lost"),
# and at the end (duration reached or Ctrl-C) a summary plus one machine-readable
# line:  RESULT sent=N received=N loss_pct=P longest_gap_s=G
# Uses `docker exec` on the fixed container names, so it works with Compose v1 and v2.
set -euo pipefail

from=onprem-host
to=10.1.0.4
interval=0.1
duration=60
while [ $# -gt 0 ]; do
    case $1 in
        --from) from=$2; shift 2 ;;
        --to) to=$2; shift 2 ;;
        --interval) interval=$2; shift 2 ;;
        --duration) duration=$2; shift 2 ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        *) echo "watch-failover.sh: unknown option $1" >&2; exit 2 ;;
    esac
done

docker inspect -f '{{.State.Running}}' "$from" 2>/dev/null | grep -q true \
    || { echo "watch-failover.sh: container $from is not running (docker compose up -d first)" >&2; exit 1; }

echo "pinging $to from $from every ${interval}s for ${duration}s (Ctrl-C to stop early)"
# ping -D: "[epoch.micro] 64 bytes from ...: icmp_seq=N ..." per reply; -w: stop after duration.
# ping exits 1 when replies were missing; the summary below says so, not the exit status.
{ docker exec "$from" ping -D -n -i "$interval" -W 1 -w "$duration" "$to" || true; } | awk -v interval="$interval" '
    function report_gap(t,  gap) {
        gap = t - last_t
        if (gap > longest) longest = gap
        printf "gap %.3f s: icmp_seq %d..%d lost\n", gap, last_seq + 1, seq - 1
        fflush()
    }
    /bytes from/ {
        t = substr($1, 2, length($1) - 2) + 0
        seq = 0
        for (i = 1; i <= NF; i++) if ($i ~ /^icmp_seq=/) { split($i, kv, "="); seq = kv[2] + 0 }
        received++
        if (seq > max_seq) max_seq = seq
        if (last_t != "" && seq > last_seq + 1) report_gap(t)
        if (first_t == "") first_t = t
        last_t = t; last_seq = seq
        next
    }
    /packets transmitted/ { sent = $1 + 0 }
    END {
        if (sent == 0) sent = max_seq
        loss = sent > 0 ? 100 * (sent - received) / sent : 100
        if (received == 0) longest = -1
        printf "sent %d, received %d, loss %.1f%%, longest gap %.3f s\n", sent, received, loss, longest
        printf "RESULT sent=%d received=%d loss_pct=%.1f longest_gap_s=%.3f\n", sent, received, loss, longest
    }'
