#!/bin/sh
# Point-to-site client container. When `vgw client` exists (issue 5) and a
# profile is present, connect with it and stay connected; otherwise say why and
# idle, so the rest of the lab still comes up.
#   profile: /etc/vgw/p2s/alice/profile.yaml (docker/lab/p2s/README.md)
set -u
ip route del default 2>/dev/null || true     # the lab has no way out
profile=${VGW_P2S_PROFILE:-/etc/vgw/p2s/alice/profile.yaml}
trap 'exit 0' TERM INT
if vgw client --help >/dev/null 2>&1 && [ -f "$profile" ]; then
    echo "p2s-client: vgw client connect --profile $profile" >&2
    exec vgw client connect --profile "$profile"
fi
if ! vgw client --help >/dev/null 2>&1; then
    echo "p2s-client: this build has no \`vgw client\` yet (point-to-site, issue 5): idling" >&2
else
    echo "p2s-client: no profile at $profile: idling" >&2
fi
while :; do
    sleep 3600 &
    wait $! || true
done
