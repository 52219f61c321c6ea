#!/bin/sh
# onprem-router: drop Docker's default route (the lab has no way out), then run BIRD
# in the foreground. Runs from the mounted lab folder, so any BIRD image works.
set -eu
ip route del default 2>/dev/null || true
mkdir -p /run/bird
exec bird -f -c /etc/vgw-bird/bird.conf -s /run/bird/bird.ctl
