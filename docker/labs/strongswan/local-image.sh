#!/usr/bin/env bash
# Build a strongSwan image from THIS host's strongSwan packages (no registry):
# charon, swanctl, every plugin in /usr/lib/ipsec/plugins and the libraries
# they all need, plus ip/ping/sh. Prints the tag as its LAST line:
#   STRONGSWAN_IMAGE=$(./local-image.sh) docker compose up -d      (in docker/labs/strongswan; no --build)
# On a normal machine use the Dockerfile instead (compose does by default).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../lib/rootfs.sh
. "$here/../../lib/rootfs.sh"
[ -x /usr/lib/ipsec/charon ] || { echo "local-image.sh: /usr/lib/ipsec/charon not found (apt-get install strongswan-charon strongswan-swanctl libcharon-extra-plugins)" >&2; exit 1; }
root=$(mktemp -d "${TMPDIR:-/tmp}/vgw-swan-rootfs.XXXXXX")
trap 'rm -rf "$root"' EXIT
rootfs_init "$root"
rootfs_add_programs "$root" swanctl ip ping sh dash cat sleep ls grep cp mkdir rm
[ -e "$root/usr/bin/sh" ] || ln -s dash "$root/usr/bin/sh"
rootfs_add_tree "$root" /usr/lib/ipsec /usr/share/iproute2 /etc/iproute2
rootfs_add_libs "$root" /usr/lib/ipsec/charon /usr/lib/ipsec/*.so* /usr/lib/ipsec/plugins/*.so
# glibc dlopen()s libgcc_s for pthread_cancel (charon's and swanctl's threads); ldd does not list it.
for lib in /usr/lib/*-linux-gnu/libgcc_s.so.1 /lib/*-linux-gnu/libgcc_s.so.1; do
    [ -e "$lib" ] && { rootfs_copy_file "$root" "$lib"; break; }
done
# Debian layout: /var/run is /run, so the vici socket has one path for charon and swanctl.
rm -rf "$root/var/run" && ln -s ../run "$root/var/run"
mkdir -p "$root/etc/swanctl"
install -m 0755 "$here/strongswan-entrypoint.sh" "$root/usr/local/bin/strongswan-entrypoint.sh" 2>/dev/null \
    || { mkdir -p "$root/usr/local/bin"; install -m 0755 "$here/strongswan-entrypoint.sh" "$root/usr/local/bin/strongswan-entrypoint.sh"; }
rootfs_import "$root" vgw-lab-strongswan \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'ENTRYPOINT ["/usr/local/bin/strongswan-entrypoint.sh"]'
