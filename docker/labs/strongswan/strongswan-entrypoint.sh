#!/bin/sh
# Runs charon in the foreground-ish: start it, load swanctl.conf, then wait on it.
# Configs come from /etc/vgw-strongswan (mounted from docker/labs/strongswan).
set -eu
ip route del default 2>/dev/null || true     # the lab has no way out
# Installed at the default paths so `docker exec onprem-gw swanctl ...` finds them too.
mkdir -p /etc/swanctl /run
cp /etc/vgw-strongswan/strongswan.conf /etc/strongswan.conf
cp /etc/vgw-strongswan/swanctl.conf /etc/swanctl/swanctl.conf
/usr/lib/ipsec/charon &
charon=$!
trap 'kill -TERM $charon; wait $charon; exit 0' TERM INT
i=0
until [ -S /var/run/charon.vici ]; do
    i=$((i + 1)); [ $i -lt 100 ] || { echo "charon did not open its vici socket" >&2; exit 1; }
    sleep 0.1
done
swanctl --load-all --noprompt
wait $charon
