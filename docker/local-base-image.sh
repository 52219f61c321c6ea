#!/usr/bin/env bash
# Build a base image for docker/gateway.Dockerfile from THIS host, with no
# registry and no network: the host's node binary, iproute2, ping and a small
# shell toolbox, each with the shared libraries it links against, imported with
# `docker import`. Prints the image tag as its LAST line, so:
#
#   NODE_IMAGE=$(docker/local-base-image.sh) docker compose up -d --build
#
# The image has no npm and no compiler, so the Dockerfile uses the host's build
# (run `npm ci && npm run build` on the host first; the TUN addon is then built
# against this very node binary). The tag is a content hash: re-running on an
# unchanged host prints the same tag and imports nothing.
#
# Options: --repo NAME (default vgw-local-base)   --keep (keep the rootfs dir)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/rootfs.sh
. "$here/lib/rootfs.sh"

repo=vgw-local-base
keep=0
while [ $# -gt 0 ]; do
    case $1 in
        --repo) repo=$2; shift 2 ;;
        --keep) keep=1; shift ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "local-base-image.sh: unknown option $1" >&2; exit 2 ;;
    esac
done

command -v docker >/dev/null || { echo "local-base-image.sh: docker not found" >&2; exit 1; }
command -v node >/dev/null || { echo "local-base-image.sh: node not found on this host" >&2; exit 1; }
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 20 ] || { echo "local-base-image.sh: host node is $(node -v); need >= 20" >&2; exit 1; }

root=$(mktemp -d "${TMPDIR:-/tmp}/vgw-rootfs.XXXXXX")
cleanup() { [ "$keep" = 1 ] && echo "rootfs kept in $root" >&2 || rm -rf "$root"; }
trap cleanup EXIT

rootfs_init "$root"
# node + the network tools the daemon and the lab use, + a shell toolbox for
# entrypoints, health checks and people poking around with `docker compose exec`.
rootfs_add_programs "$root" node ip ping sh dash \
    cat ls grep sed sleep date env timeout head tail tr cut mkdir rm ln cp chmod id ps hostname uname wc sort
# arping: gratuitous ARP when an HA instance takes a floating address (ha/floating-ip.ts);
# without it neighbours keep the dead instance's MAC until their entry goes stale.
if command -v arping >/dev/null 2>&1; then rootfs_add_programs "$root" arping
else echo "local-base-image.sh: no arping on this host (apt-get install iputils-arping): HA takeovers will not announce themselves" >&2
fi
# /bin/sh must exist even where the host's sh is a symlink to bash/dash.
[ -e "$root/usr/bin/sh" ] || ln -s dash "$root/usr/bin/sh"
# iproute2 data files (rt_tables, protocol names).
rootfs_add_tree "$root" /usr/share/iproute2 /etc/iproute2 /usr/lib/iproute2
# Hosts without /etc/ssl certs are fine: nothing in the lab talks TLS.
rootfs_add_tree "$root" /etc/ssl/certs
mkdir -p "$root/run/vgw"

# Sanity: the copied node must run inside the tree (catches a missed library).
if command -v chroot >/dev/null && [ "$(id -u)" = 0 ]; then
    chroot "$root" /usr/bin/node -e 'process.exit(0)' \
        || { echo "local-base-image.sh: node does not run in the assembled rootfs" >&2; exit 1; }
fi

rootfs_import "$root" "$repo" \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'ENV VGW_LOCAL_BASE=1' \
    -c 'CMD ["node"]'
