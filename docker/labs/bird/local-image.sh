#!/usr/bin/env bash
# Build a BIRD image from THIS host's bird2 package (no registry): bird, birdc and
# the libraries they need, plus ip/ping/sh. Prints the tag as its LAST line:
#   BIRD_IMAGE=$(./local-image.sh) docker compose up -d
# On a normal machine use bird.Dockerfile instead (compose does by default).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../lib/rootfs.sh
. "$here/../../lib/rootfs.sh"
command -v bird >/dev/null 2>&1 || { echo "local-image.sh: bird not found (apt-get install bird2)" >&2; exit 1; }
root=$(mktemp -d "${TMPDIR:-/tmp}/vgw-bird-rootfs.XXXXXX")
trap 'rm -rf "$root"' EXIT
rootfs_init "$root"
rootfs_add_programs "$root" bird birdc ip ping sh dash cat sleep mkdir
[ -e "$root/usr/bin/sh" ] || ln -s dash "$root/usr/bin/sh"
rootfs_add_tree "$root" /usr/share/iproute2 /etc/iproute2
rm -rf "$root/var/run" && ln -s ../run "$root/var/run"
mkdir -p "$root/run/bird"
rootfs_import "$root" vgw-lab-bird \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'ENTRYPOINT ["/bin/sh", "/etc/vgw-bird/bird-entrypoint.sh"]'
